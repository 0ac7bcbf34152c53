"""`estimate`: answers equal R's survey package (svymean, svyciprop logit and beta, svyquantile,
svytotal), the weight follows the variables, NCHS flags fire at each rule's edge, and the
domain text is parsed, never run."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from analysis.survey import nchs, query, weights
from analysis.core.errors import ConfigError, DataError
from analysis.commands.estimate import estimate
from tests import synthetic
from tests.conftest import REPO
from tests.oracle_tools import assert_agree, assert_total_agrees, run_oracle

DESIGN = ["sdmvstra", "sdmvpsu"]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    data = synthetic.analytic_table(n_per_psu=30, cycles=synthetic.CYCLES[:2], seed=61)
    data["age_group"] = pd.cut(data["age"], [0, 19, 39, 59, 200], labels=["<20", "20-39", "40-59", "60+"]).astype("string")
    return data


# ---------------------------------------------------------------------------------- R oracle


def oracle_frame(frame: pd.DataFrame, domain: pd.Series) -> pd.DataFrame:
    out = frame.copy()
    out["dom"] = domain
    return out


@pytest.mark.oracle
@pytest.mark.parametrize("ci,method", [("logit", "logit"), ("korn-graubard", "beta")])
def test_proportions_equal_r_svyciprop(frame, tmp_path, ci, method):
    ours = estimate("proportion", "vitd_serum_nmol", below=50, where="sex == 'female' & age >= 20", by=["cycle"],
                    ci=ci, frame=frame).table
    data = frame.copy()
    data["low"] = (data["vitd_serum_nmol"] < 50).astype(float).where(data["vitd_serum_nmol"].notna())
    data["dom"] = (data["sex"] == "female") & (data["age"] >= 20) & data["low"].notna() & (data["wt_mec"] > 0)
    r = run_oracle(tmp_path, data, DESIGN + ["wt_mec", "dom", "low", "cycle"], task="prop", weight="wt_mec",
                   domain="dom", y="low", by="cycle", ci=method)
    np.testing.assert_allclose(ours["estimate"], r["estimate"], rtol=1e-6)
    np.testing.assert_allclose(ours["std_error"], r["std_error"], rtol=1e-6)
    np.testing.assert_allclose(ours["ci_low"], r["ci_low"], rtol=1e-6)
    np.testing.assert_allclose(ours["ci_high"], r["ci_high"], rtol=1e-6)
    np.testing.assert_allclose(ours["df"], r["df"], rtol=1e-6)


@pytest.mark.oracle
def test_means_percentiles_and_totals_equal_r(frame, tmp_path):
    data = frame.copy()
    data["dom"] = (data["age"] >= 40) & data["vitd_serum_nmol"].notna() & (data["wt_mec"] > 0)
    columns = DESIGN + ["wt_mec", "dom", "vitd_serum_nmol"]
    mean = estimate("mean", "vitd_serum_nmol", where="age >= 40", frame=frame).table
    r = run_oracle(tmp_path, data, columns, task="mean", weight="wt_mec", domain="dom", y="vitd_serum_nmol")
    assert_agree(mean.assign(term="vitd_serum_nmol"), r)
    pct = estimate("percentiles", "vitd_serum_nmol", where="age >= 40", percentiles=[10, 50, 90], frame=frame).table
    r = run_oracle(tmp_path, data, columns, task="quantile", weight="wt_mec", domain="dom", y="vitd_serum_nmol",
                   probs="0.1;0.5;0.9")
    np.testing.assert_allclose(pct[["estimate", "std_error", "ci_low", "ci_high", "df"]].to_numpy(dtype=float),
                               r[["estimate", "std_error", "ci_low", "ci_high", "df"]].to_numpy(dtype=float), rtol=1e-6)
    total = estimate("total", "vitd_serum_nmol", where="age >= 40", frame=frame).table
    r = run_oracle(tmp_path, data, columns, task="total", weight="wt_mec", domain="dom", y="vitd_serum_nmol")
    assert_total_agrees(total, r)


@pytest.mark.mirror
@pytest.mark.oracle
def test_on_the_mirror_equals_r(analyzed_project, tmp_path):
    """A measured column: R's svymean to 1e-6. A usual-intake prediction: R's point estimate, and a
    larger SE than R's Taylor one (its replicate SE carries the model's uncertainty; its own oracle
    test is in test_wrong_answers.py)."""
    data = pd.read_parquet(analyzed_project / "data_clean/analytic.parquet").merge(
        pd.read_parquet(analyzed_project / "data_clean/usual_intake.parquet"), on="seqn")
    for column in ("mg_total_mg", "mg_total_usual_mg"):
        result = estimate("mean", column, where="sex == 'male'", root=analyzed_project)
        assert result.weight == "wt_day1"
        data["dom"] = (data["sex"] == "male") & data[column].notna() & (data["wt_day1"] > 0)
        r = run_oracle(tmp_path, data, DESIGN + ["wt_day1", "dom", column], task="mean", weight="wt_day1",
                       domain="dom", y=column)
        if column == "mg_total_mg":
            assert_agree(result.table.assign(term=column), r)
        else:
            assert result.table["estimate"].iloc[0] == pytest.approx(r["estimate"].iloc[0], rel=1e-6)
            assert result.table["std_error"].iloc[0] > r["std_error"].iloc[0]


# ---------------------------------------------------------------------------------- weights


def test_the_weight_follows_the_most_restricted_variable():
    assert weights.weight_for(["age", "sex"])[0] == "wt_int"
    assert weights.weight_for(["vitd_serum_nmol", "age"])[0] == "wt_mec"
    assert weights.weight_for(["vitd_serum_nmol", "mg_food_mg"])[0] == "wt_day1"
    assert weights.weight_for(["mg_total_2day_mg", "vitd_serum_nmol"])[0] == "wt_day2"
    assert weights.weight_for(["mg_adequate_usual"])[0] == "wt_day1"
    with pytest.raises(ConfigError, match="no subsample documented"):
        weights.weight_for(["shoe_size"])


def test_the_pipelines_analyses_use_the_rule(analyzed_project):
    """Each published model's weight is the one the rule gives its outcome and exposure."""
    for table, column, outcome, exposure in [("interaction_use", "weight", "vitd_serum_nmol", "mg_adequate"),
                                             ("vitd_status", "weight", "vitd_serum_nmol", None)]:
        t = pd.read_csv(analyzed_project / f"reports/tables/{table}.csv")
        expected = weights.weight_for([outcome] + ([exposure] if exposure else []))[0]
        assert set(t[column]) == {expected}, table


# ---------------------------------------------------------------------------------- NCHS flags


def kg(p: float, width: float) -> tuple[float, float]:
    return max(p - width / 2, 0), p + width / 2


@pytest.mark.parametrize("p,se,width,n,df,suppress,review", [
    (0.30, 0.0832, 0.20, 100, 99, False, False),   # n_eff = 0.21 / 0.0832^2 = 30.3: shown
    (0.30, 0.0840, 0.20, 100, 99, True, False),    # n_eff 29.8 < 30: suppressed
    (0.30, 0.0832, 0.20, 100, 60, True, False),    # the same with 60 df: (t99 / t60)^2 brings it to 29.9
    (0.50, 0.02, 0.2999, 1000, 60, False, False),  # width just under 0.30
    (0.50, 0.02, 0.30, 1000, 60, True, False),     # width 0.30: suppressed
    (0.10, 0.01, 0.129, 1000, 60, False, False),   # relative width 129% <= 130%
    (0.10, 0.01, 0.131, 1000, 60, True, False),    # relative width 131% > 130%
    (0.02, 0.002, 0.05, 1000, 60, False, False),   # width 0.05: the relative rule does not apply
    (0.50, 0.02, 0.10, 1000, 7, False, True),      # df 7 < 8: statistical review
    (0.50, 0.02, 0.10, 1000, 8, False, False),
])
def test_nchs_proportion_rules_at_their_edges(p, se, width, n, df, suppress, review):
    low, high = kg(p, width)
    verdict, n_eff = nchs.proportion(p, se, low, high, n, df)
    assert (verdict.suppress, verdict.review) == (suppress, review), verdict.reasons


def test_effective_sample_size_is_capped_and_df_adjusted():
    assert nchs.effective_sample_size(0.5, 0.001, 200, 300) == 200  # capped at n
    adjusted = nchs.effective_sample_size(0.3, 0.05, 1000, 15)
    assert adjusted < 0.21 / 0.05**2  # fewer df than n - 1 shrink it


def test_means_are_flagged_by_relative_standard_error():
    assert nchs.other(10.0, 2.99, 100, 30).reasons == []
    assert "relative standard error 30%" in nchs.other(10.0, 3.0, 100, 30).reasons[0]
    assert nchs.other(10.0, 1.0, 29, 30).reasons == ["sample size 29 < 30"]


def test_suppressed_cells_say_why(frame):
    result = estimate("proportion", "vitd_serum_nmol", below=20, where="age >= 79", frame=frame)
    row = result.table.iloc[0]
    assert row["reliability"] == "suppressed" and "relative CI width" in row["reasons"]
    assert "(suppressed)" in result.text()


# ---------------------------------------------------------------------------------- the domain grammar


@pytest.mark.parametrize("text", [
    "__import__('os').system('echo pwned')", "age.__class__ == 1", "sex.upper() == 'MALE'", "age[0] > 1",
    "(lambda: 1)() == 1", "age + 1 > 2", "open('x') == 1", "[c for c in age] == 1",
])
def test_code_in_where_is_refused(frame, text):
    with pytest.raises(ConfigError, match="Accepted:"):
        query.evaluate(text, frame)


def test_where_grammar(frame):
    inside = query.evaluate("sex == 'female' & age >= 60 | cycle in ['2009-2010'] & not age < 5", frame)
    expected = ((frame["sex"] == "female") & (frame["age"] >= 60)) | ((frame["cycle"] == "2009-2010") & ~(frame["age"] < 5))
    assert inside.equals(expected.fillna(False).astype(bool))
    assert query.evaluate("vitd_serum_nmol < 50", frame).sum() == (frame["vitd_serum_nmol"] < 50).sum()
    with pytest.raises(ConfigError, match="unknown column 'agee'; did you mean age"):
        query.evaluate("agee > 5", frame)
    with pytest.raises(ConfigError, match="holds text"):
        query.evaluate("sex == 1", frame)


def test_unknown_columns_and_empty_domains_are_clear_errors(frame):
    with pytest.raises(ConfigError, match="unknown column 'vitd_serm_nmol'; did you mean vitd_serum_nmol"):
        estimate("mean", "vitd_serm_nmol", frame=frame)
    with pytest.raises(DataError, match="no one is in the domain"):
        estimate("mean", "vitd_serum_nmol", where="age > 200", frame=frame)


def test_misuses_are_clear_errors_not_tracebacks(frame):
    """A number column compared with text, percentiles outside (0, 100) and --by on a column
    with thousands of values: each a ConfigError naming the argument (exit 2 from the CLI)."""
    with pytest.raises(ConfigError, match="column 'age' holds numbers: compare it with a number, not the text 'abc'"):
        query.evaluate("age > 'abc'", frame)
    for bad in ([150], [0], [100], [-5, 50]):
        with pytest.raises(ConfigError, match=r"--percentiles .*strictly between 0 and 100"):
            estimate("percentiles", "vitd_serum_nmol", percentiles=bad, frame=frame)
    frame = frame.assign(person=np.arange(len(frame)))
    with pytest.raises(ConfigError, match=r"--by person: \d+ distinct values \(at most 100\)"):
        estimate("mean", "vitd_serum_nmol", by=["person"], frame=frame)


@pytest.mark.mirror
def test_cli_prints_the_weight_and_formats(analyzed_project):
    command = [sys.executable, "-m", "analysis", "--root", str(analyzed_project), "estimate", "proportion",
               "vitd_serum_nmol", "--below", "50", "--where", "sex == 'female' & age >= 60", "--cycles", "2017-2018"]
    out = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert "weight: wt_mec (MEC exam weight" in out and "Korn-Graubard" in out
    data = json.loads(subprocess.run(command + ["--format", "json"], capture_output=True, text=True, cwd=REPO,
                                     check=True).stdout)
    assert data["weight"] == "wt_mec" and 0 < data["rows"][0]["estimate"] < 1


def test_load_reads_each_version_of_the_files_once_and_hands_out_copies(frame, tmp_path, monkeypatch):
    """A notebook's many questions read the files once; a caller's change stays in its copy; a
    pipeline rerun (files rewritten) is read afresh."""
    import os
    import shutil

    from analysis.commands import estimate as module

    (tmp_path / "data_clean").mkdir()
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    table = frame.copy()  # the analytic table, analysis-time columns (age_group, ...) included
    analytic = tmp_path / "data_clean" / "analytic.parquet"
    table.to_parquet(analytic)
    reads = []
    read_parquet = pd.read_parquet
    monkeypatch.setattr(module.pd, "read_parquet", lambda path, **kw: reads.append(path) or read_parquet(path, **kw))
    module._read.cache_clear()

    first = module.load(tmp_path)
    first["vitd_serum_nmol"] = -1.0
    first.loc[first.index[0], "age"] = -5  # in place, too
    second = module.load(tmp_path)
    assert len(reads) == 1
    assert second["age"].iloc[0] == table["age"].iloc[0]
    np.testing.assert_array_equal(second["vitd_serum_nmol"].to_numpy(), table["vitd_serum_nmol"].to_numpy())
    assert second["age_group"].equals(table["age_group"])  # the file's analysis-time columns, as written

    table.assign(vitd_serum_nmol=table["vitd_serum_nmol"] + 1).to_parquet(analytic)
    status = analytic.stat()
    os.utime(analytic, ns=(status.st_atime_ns, status.st_mtime_ns + 10**9))
    third = module.load(tmp_path)
    assert len(reads) == 2
    np.testing.assert_array_equal(third["vitd_serum_nmol"].to_numpy(), table["vitd_serum_nmol"].to_numpy() + 1)

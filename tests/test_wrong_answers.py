"""The analysts' commands answer right or refuse, never silently wrong (issue 38): weights pooled
over the cycles a question covers however they were chosen, usual-intake columns with SEs that
rerun both steps, every assumed value of a risk profile printed, models that cannot be right
refused, the project found from any directory below it, names checked before data are read."""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.commands import estimate as estimate_module
from analysis.commands import lookup, modeling
from analysis.survey import query, weights
from analysis.commands.cli import main
from analysis.core.config import find_root, load_params
from analysis.core.errors import ConfigError, DataError
from analysis.commands.estimate import estimate
from tests import synthetic
from tests.conftest import REPO
from tests.oracle_tools import assert_total_agrees, log_scale_ci, run_oracle

PARAMS = load_params(REPO / "params.yaml")
CYCLES = synthetic.CYCLES[:3]
DESIGN = ["sdmvstra", "sdmvpsu"]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return synthetic.analytic_table(n_per_psu=30, cycles=CYCLES, seed=71)


def total(frame, **kw) -> float:
    return float(estimate("total", "vitd_supp_user", frame=frame, params=PARAMS, **kw).table["estimate"].iloc[0])


# ------------------------------------------------------------------------- the cycles pooled


def test_a_cycle_chosen_in_where_pools_the_weight_as_cycles_does(frame):
    chosen = CYCLES[2]
    by_where = total(frame, where=f"cycle == '{chosen}' & age >= 20")
    by_cycles = total(frame, where="age >= 20", cycles=[chosen])
    twice = total(frame, where="age >= 20", cycles=[chosen, chosen])
    assert weights.weight_for(["vitd_supp_user", "age"])[0] == "wt_day1"
    inside = (frame["cycle"] == chosen) & (frame["age"] >= 20) & (frame["wt_day1"] > 0)
    two_year = float((frame.loc[inside, "wt_day1"] * len(CYCLES) * frame.loc[inside, "vitd_supp_user"]).sum())
    assert by_where == pytest.approx(two_year, rel=1e-9)
    assert by_cycles == pytest.approx(two_year, rel=1e-9)
    assert twice == pytest.approx(two_year, rel=1e-9)
    pair = total(frame, where=f"cycle in ['{CYCLES[0]}', '{CYCLES[1]}']")
    inside = frame["cycle"].isin(CYCLES[:2]) & (frame["wt_day1"] > 0)
    assert pair == pytest.approx(float((frame.loc[inside, "wt_day1"] * 1.5 * frame.loc[inside, "vitd_supp_user"]).sum()),
                                 rel=1e-9)


def test_a_cycle_chosen_in_where_is_found_even_when_the_domain_misses_it_by_chance(frame):
    """The cycles a condition selects come from its `cycle` comparisons, not from who happens to be in the domain."""
    chosen = weights.cycles_in_where(frame, f"(cycle == '{CYCLES[0]}' & age > 500) | cycle == '{CYCLES[1]}'", CYCLES)
    assert chosen == [CYCLES[1]]
    small = frame[(frame["cycle"] != CYCLES[0]) | (frame["age"] < 79)]
    assert weights.cycles_in_where(small, f"cycle == '{CYCLES[0]}' & age == 80", CYCLES) == [CYCLES[0]]


def test_totals_by_cycle_use_each_cycles_two_year_weight(frame):
    table = estimate("total", "vitd_supp_user", by=["cycle"], frame=frame, params=PARAMS).table
    for cycle in CYCLES:
        alone = total(frame, cycles=[cycle])
        assert table.set_index("group").loc[f"cycle={cycle}", "estimate"] == pytest.approx(alone, rel=1e-9)


def test_a_variable_missing_in_a_cycle_is_pooled_over_the_cycles_that_measured_it(frame):
    data = frame.copy()
    data.loc[data["cycle"] == CYCLES[0], "vitd_serum_nmol"] = np.nan
    result = estimate("total", "vitd_below_50", frame=data.assign(vitd_below_50=(data["vitd_serum_nmol"] < 50)
                                                                  .astype("boolean").mask(data["vitd_serum_nmol"].isna())),
                      params=PARAMS)
    inside = (data["cycle"] != CYCLES[0]) & (data["wt_mec"] > 0) & data["vitd_serum_nmol"].notna()
    expected = float((data.loc[inside, "wt_mec"] * 1.5 * (data.loc[inside, "vitd_serum_nmol"] < 50)).sum())
    assert result.table["estimate"].iloc[0] == pytest.approx(expected, rel=1e-9)
    assert any(CYCLES[0] in note and "pooled over the 2 cycle(s)" in note for note in result.notes)


@pytest.mark.oracle
def test_a_single_cycle_total_equals_r_svytotal_on_the_two_year_weight(frame, tmp_path):
    ours = estimate("total", "vitd_serum_nmol", where=f"cycle == '{CYCLES[1]}' & age >= 40", frame=frame,
                    params=PARAMS).table
    data = frame.copy()
    data["wt_2yr"] = data["wt_mec"] * len(CYCLES)
    data["dom"] = (data["cycle"] == CYCLES[1]) & (data["age"] >= 40) & data["vitd_serum_nmol"].notna() & (data["wt_mec"] > 0)
    r = run_oracle(tmp_path, data, DESIGN + ["wt_2yr", "dom", "vitd_serum_nmol"], task="total", weight="wt_2yr",
                   domain="dom", y="vitd_serum_nmol")
    assert_total_agrees(ours, r)


def test_a_rare_total_has_a_positive_ci_and_a_total_of_zeros_no_traceback(frame):
    """A small count's symmetric CI would go below zero people; on the log scale it stays positive. A
    domain where nobody has the trait totals 0 with SE 0: no t statistic, no division by zero."""
    from scipy import stats

    rare = estimate("total", "vitd_supp_user", where="vitd_serum_nmol < 12", frame=frame, params=PARAMS)
    r = rare.table.iloc[0]
    assert r["estimate"] - stats.t.ppf(0.975, r["df"]) * r["std_error"] < 0 < r["ci_low"] < r["estimate"]
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(log_scale_ci(r["estimate"], r["std_error"], r["df"]), rel=1e-12)
    assert any("on the log scale" in note for note in rare.notes)
    none = estimate("total", "vitd_supp_user", where="vitd_serum_nmol < 10", frame=frame, params=PARAMS).table
    assert none["estimate"].iloc[0] == 0 and none["std_error"].iloc[0] == 0
    differences = frame.assign(change=frame["vitd_serum_nmol"] - 60)  # can be negative: a symmetric CI
    documented = weights.samples
    weights.samples = lambda: {**documented(), "change": "mec"}
    try:
        signed = estimate("total", "change", frame=differences, params=PARAMS).table.iloc[0]
    finally:
        weights.samples = documented
    half = stats.t.ppf(0.975, signed["df"]) * signed["std_error"]
    assert signed["ci_low"] == pytest.approx(signed["estimate"] - half, rel=1e-12)


# ------------------------------------------------------------------------- weights asked for


def test_a_weight_of_a_larger_subsample_is_refused_and_a_smaller_one_is_said(frame):
    with pytest.raises(ConfigError, match=r"--weight wt_int: .* vitd_serum_nmol was measured only in the MEC "
                                          r"examination subsample, whose weight is wt_mec"):
        estimate("mean", "vitd_serum_nmol", weight="wt_int", frame=frame, params=PARAMS)
    with pytest.raises(ConfigError, match="not a survey weight"):
        estimate("mean", "vitd_serum_nmol", weight="age", frame=frame, params=PARAMS)
    with pytest.raises(ConfigError, match="--weight wt_int"):
        modeling.fit("vitd_serum_nmol ~ age", weight="wt_int", frame=frame, params=PARAMS)
    smaller = estimate("mean", "vitd_serum_nmol", weight="wt_day1", frame=frame, params=PARAMS)
    assert smaller.weight == "wt_day1" and "smaller subsample than the variables need (wt_mec)" in smaller.weight_reason


# ------------------------------------------------------------------------- models that cannot be right


@pytest.mark.parametrize("formula, kw, message", [
    ("vitd_below_50 ~ age", {}, "is true/false; a linear model of it"),
    ("vitd_serum_nmol ~ ", {}, "no terms on the right of ~"),
    ("vitd_serum_nmol ~ 1", {}, "no terms on the right of ~"),
    ("died ~ vitd_serum_nmol + age", {}, "linked mortality files.*Cox"),
    ("died_cvd ~ age", {"family": "binomial"}, "linked mortality files"),
])
def test_models_that_would_answer_wrongly_are_refused(frame, formula, kw, message):
    with pytest.raises(ConfigError, match=message):
        modeling.fit(formula, frame=frame.assign(died=False, died_cvd=False), params=PARAMS, **kw)


def test_a_true_false_outcome_fits_with_the_family_named(frame):
    data = frame.assign(vitd_below_50=frame["vitd_below_50"].astype("boolean"))
    linear = modeling.fit("vitd_below_50 ~ age", family="gaussian", frame=data, params=PARAMS)
    logistic = modeling.fit("vitd_below_50 ~ age", family="binomial", frame=data, params=PARAMS)
    assert linear.family == "gaussian" and logistic.family == "binomial"


def test_age_adjustment_outside_the_standards_ages_names_the_ages(frame):
    with pytest.raises(DataError, match=r"the standard covers ages 20 and over, and no one in the domain \(age < 20\)"):
        estimate("mean", "vitd_serum_nmol", where="age < 20", age_adjust="adults_2000", frame=frame, params=PARAMS)


def test_a_fit_svy_cannot_make_is_a_message(frame):
    with pytest.raises(DataError, match="cannot be fitted in this domain: .*rank deficient"):
        modeling.fit("vitd_serum_nmol ~ age", where="age == 40", frame=frame, params=PARAMS)


# ------------------------------------------------------------------------- the --where grammar


def test_a_bare_true_false_column_is_a_condition(frame):
    bare = estimate("mean", "vitd_serum_nmol", where="in_main", frame=frame, params=PARAMS).table
    spelled = estimate("mean", "vitd_serum_nmol", where="in_main == True", frame=frame, params=PARAMS).table
    pd.testing.assert_frame_equal(bare, spelled)
    negated = query.evaluate("~in_main", frame)
    assert negated.sum() == (~frame["in_main"]).sum()
    with pytest.raises(ConfigError, match="only for a true/false column"):
        query.evaluate("age", frame)


def test_an_unknown_level_lists_the_levels(frame):
    with pytest.raises(ConfigError, match=r"'Female' is not a level of sex; did you mean 'female'.*levels: female, male"):
        estimate("mean", "vitd_serum_nmol", where="sex == 'Female'", frame=frame, params=PARAMS)
    with pytest.raises(ConfigError, match="'2099-2100' is not a level of cycle"):
        estimate("mean", "vitd_serum_nmol", where="cycle in ['2007-2008', '2099-2100']", frame=frame, params=PARAMS)


def test_by_with_commas_says_to_use_spaces(frame):
    with pytest.raises(ConfigError, match=r"separate columns with spaces, not commas \(--by sex race_eth\)"):
        estimate("mean", "vitd_serum_nmol", by=["sex,race_eth"], frame=frame, params=PARAMS)


def test_one_psu_strata_are_said_once_in_words_and_svy_prints_nothing(frame, capsys, caplog):
    result = estimate("mean", "vitd_serum_nmol", where="sdmvpsu == 1", frame=frame, params=PARAMS)
    strata = frame.loc[(frame["sdmvpsu"] == 1) & (frame["wt_mec"] > 0) & frame["vitd_serum_nmol"].notna(),
                       "sdmvstra"].nunique()
    notes = [n for n in result.notes if "sit in one PSU" in n]
    assert len(notes) == 1 and f"in {strata} design stratum/strata" in notes[0]
    everyone = estimate("mean", "vitd_serum_nmol", frame=frame, params=PARAMS)
    assert not any("one PSU" in n for n in everyone.notes)
    captured = capsys.readouterr()
    assert "DOMAIN_SINGLETON_PSU" not in captured.err + captured.out + caplog.text


# ------------------------------------------------------------------------- checked before data are read


def test_names_are_checked_from_the_schema_before_the_data_are_loaded(analyzed_project, monkeypatch, capsys):
    def no_load(*args, **kwargs):
        raise AssertionError("the data were loaded before the arguments were checked")

    monkeypatch.setattr(estimate_module, "load", no_load)
    cases = [(["estimate", "mean", "vitd_srum_nmol"], "did you mean vitd_serum_nmol"),
             (["estimate", "mean", "vitd_serum_nmol", "--where", "agee > 3"], "unknown column 'agee'"),
             (["estimate", "mean", "vitd_serum_nmol", "--by", "sex,race_eth"], "separate columns with spaces"),
             (["estimate", "mean", "vitd_serum_nmol", "--weight", "wt_int"], "use --weight wt_mec"),
             (["model", "vitd_serum_nmol ~ agee"], "unknown column 'agee'"),
             (["model", "died ~ age"], "linked mortality files")]
    for argv, message in cases:
        assert main(["--root", str(analyzed_project)] + argv) == 2, argv
        assert message in capsys.readouterr().err, argv


def test_one_vocabulary_for_estimate_and_model(analyzed_project):
    share = estimate("mean", "vitd_below_50", where="in_main", root=analyzed_project)
    assert share.weight == "wt_day1" and 0 < share.table["estimate"].iloc[0] < 1
    assert estimate("proportion", "vitd_below_50", where="in_adults", root=analyzed_project).weight == "wt_mec"


# ------------------------------------------------------------------------- usual-intake columns


def usual_project(tmp_path, params):
    """A project with the synthetic usual-intake frame and its calibration model on disk."""
    from analysis.usual import definition
    from tests.usual_model import write_calibration_model

    data = synthetic.usual_intake_table(n_per_psu=30, cycles=synthetic.CYCLES[:2], seed=43)
    (tmp_path / "data_clean").mkdir()
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    write_calibration_model(data, params, tmp_path / "data_clean" / "usual_model.json")
    data["in_usual_calibration"] = definition.domains(data, params)["calibration"].to_numpy()
    return data


@pytest.fixture(scope="module")
def usual_params():
    p = copy.deepcopy(PARAMS)
    p["model"]["covariates"] = ["age", "sex", "bmi", "cycle"]
    p["analyze"]["min_domain_n"] = 50
    return p


def test_usual_intake_means_carry_replicate_ses_rerunning_both_steps(tmp_path, usual_params):
    from analysis.analyses.common import Context
    from analysis.survey.design import replicate_factors
    from analysis.usual.intake_model import UsualIntakeModel

    data = usual_project(tmp_path, usual_params)
    ctx = Context(data.copy(), usual_params)
    usual = UsualIntakeModel.load(tmp_path / "data_clean" / "usual_model.json", ctx.frame, usual_params)
    full = usual.columns(None)["mg_adequate_usual"]
    data.loc[usual.rows, "mg_adequate_usual"] = full  # as usual_intake.parquet holds it
    result = estimate("mean", "mg_adequate_usual", by=["sex"], frame=data, root=tmp_path, params=usual_params)
    assert "replicates, each rerunning the usual-intake model" in result.variance
    assert "variance: jackknife" in result.text()
    # the same SEs recomputed here, from the stored replicate fits and the design's jackknife
    replicates = replicate_factors(data)
    index = np.flatnonzero(usual.rows)
    w = data["wt_day1"].to_numpy()
    for row in result.table.itertuples():
        sex = row.group.split("=")[1]
        members = index[(data["sex"].to_numpy()[index] == sex)]
        position = np.searchsorted(index, members)

        def mean(values, factor):
            return np.sum(w[members] * factor[members] * values[position]) / np.sum(w[members] * factor[members])

        theta = mean(full, np.ones(len(data)))
        thetas = np.array([mean(usual.columns(r)["mg_adequate_usual"], replicates.factors[:, r])
                           for r in range(replicates.factors.shape[1])])
        se = np.sqrt(np.sum(replicates.coefficients * (thetas - theta) ** 2))
        assert row.estimate == pytest.approx(theta, rel=1e-9)
        assert row.std_error == pytest.approx(se, rel=1e-9)
        assert row.ci_low < row.estimate < row.ci_high


@pytest.mark.oracle
def test_usual_intake_mean_and_total_equal_r_svrvar(tmp_path, usual_params):
    from analysis.analyses.common import Context
    from analysis.usual.intake_model import UsualIntakeModel
    from tests.test_replicates_oracle import run_r

    data = usual_project(tmp_path, usual_params)
    usual = UsualIntakeModel.load(tmp_path / "data_clean" / "usual_model.json", Context(data.copy(), usual_params).frame,
                                  usual_params)
    index = np.flatnonzero(usual.rows)
    columns = {}
    for r in [None] + list(range(usual.n_replicates)):
        values = np.full(len(data), np.nan)
        values[index] = usual.columns(r)["kcal_usual"]
        columns[f"y{0 if r is None else r + 1}"] = values
    data["kcal_usual"] = columns["y0"]
    mean = estimate("mean", "kcal_usual", where="sex == 'female'", frame=data, root=tmp_path, params=usual_params).table
    tot = estimate("total", "kcal_usual", where="sex == 'female'", frame=data, root=tmp_path, params=usual_params).table
    out = data[["sdmvstra", "sdmvpsu", "wt_day1"]].astype(float)
    out["dom"] = ((data["sex"] == "female") & data["in_usual_calibration"] & (data["wt_day1"] > 0)).astype(float)
    out = pd.concat([out, pd.DataFrame(columns, index=out.index)], axis=1)
    theirs = run_r(tmp_path, out, task="twostep_mean", weight="wt_day1", domain="dom", y="y").set_index("kind")
    for ours, kind in [(mean, "mean"), (tot, "total")]:
        assert ours["estimate"].iloc[0] == pytest.approx(theirs.loc[kind, "estimate"], rel=1e-6)
        assert ours["std_error"].iloc[0] == pytest.approx(theirs.loc[kind, "std_error"], rel=1e-6)


@pytest.mark.parametrize("kw, message", [
    ({"statistic": "percentiles"}, "understate the population's spread"),
    ({"statistic": "proportion", "below": 300}, "understate the population's spread"),
    ({"statistic": "mean", "age_adjust": "adults_2000"}, "--age-adjust with"),
    ({"statistic": "mean", "where": "mg_adequate_usual > 0.5"}, "a domain defined by a usual-intake prediction"),
])
def test_what_a_usual_intake_prediction_cannot_answer_is_refused(tmp_path, usual_params, kw, message):
    data = usual_project(tmp_path, usual_params)
    data["mg_total_usual_mg"] = data["mg_total_mg"]
    data["mg_adequate_usual"] = 0.5
    kw = dict(kw)
    statistic = kw.pop("statistic")
    with pytest.raises(ConfigError, match=message):
        estimate(statistic, "mg_total_usual_mg", frame=data, root=tmp_path, params=usual_params, **kw)


@pytest.mark.mirror
def test_the_cli_says_replicates_and_agrees_with_the_pipelines_usual_intake_table(analyzed_project, capsys,
                                                                                   monkeypatch):
    """The mean probability that usual magnesium is adequate, by sex, against the usual-intake
    distribution's share below the EAR (the pipeline's table): the same quantity from the two models
    (calibration, distribution), so close but not equal; the SEs are replicate SEs of like size."""
    assert main(["--root", str(analyzed_project), "estimate", "mean", "mg_adequate_usual", "--by", "sex",
                 "--format", "csv"]) == 0
    from io import StringIO

    ours = pd.read_csv(StringIO(capsys.readouterr().out)).set_index("group")
    table = pd.read_csv(analyzed_project / "reports/tables/usual_intake.csv")
    below = table[(table["term"] == "mg_total_usual_below_ear") & (table["group_by"] == "sex")].set_index("group")
    documented = weights.samples  # the same values, treated as measured
    monkeypatch.setattr(weights, "samples", lambda: {**documented(), "mg_adequate_taylor": "day1"})
    taylor = estimate("mean", "mg_adequate_taylor", by=["sex"], root=None,
                      frame=estimate_module.load(analyzed_project).assign(
                          mg_adequate_taylor=lambda f: f["mg_adequate_usual"]), params=PARAMS).table.set_index("group")
    for group in below.index:
        assert ours.loc[group, "estimate"] == pytest.approx(1 - below.loc[group, "estimate"], abs=0.03)
        assert 0.6 < ours.loc[group, "std_error"] / below.loc[group, "std_error"] < 1.6
        assert ours.loc[group, "std_error"] > taylor.loc[group, "std_error"]


# ------------------------------------------------------------------------- risk --profile


@pytest.mark.mirror
def test_a_risk_profile_prints_every_assumed_value_and_its_source(analyzed_project, capsys):
    argv = ["--root", str(analyzed_project), "risk", "--profile", "age=65", "sex=female", "mg_total_mg=220",
            "vitd_supp_ug=25"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    adult = PARAMS["analyze"]["reference_adult"]
    for name in ("race_eth", "bmi", "season", "cycle"):
        assert f"  {name} = {adult[name]}  (params.yaml analyze.reference_adult)" in out, (name, out)
    assert "  vitd_food_ug = 4  (params.yaml risk.profile_defaults)" in out
    assert "person: age=65" not in out or "sex=female" in out
    assert main(argv + ["race_eth=nh_white"]) == 0
    assert "race_eth = " not in capsys.readouterr().out.split("assumed")[1]


# ------------------------------------------------------------------------- finding the project


def test_the_project_is_found_from_any_directory_below_it(tmp_path):
    (tmp_path / "params.yaml").write_text("clean: {}\n")
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    deep = tmp_path / "reports" / "notebooks"
    deep.mkdir(parents=True)
    assert find_root(deep) == tmp_path.resolve()
    with pytest.raises(ConfigError, match="no project found at or above .* --root PROJECT_DIR"):
        find_root(tmp_path.parent)


@pytest.mark.mirror
def test_commands_run_from_reports_without_root(analyzed_project):
    (analyzed_project / "dvc.yaml").write_text((REPO / "dvc.yaml").read_text())
    (analyzed_project / "reports").mkdir(exist_ok=True)
    run = subprocess.run([sys.executable, "-m", "analysis", "estimate", "mean", "vitd_serum_nmol"],
                         cwd=analyzed_project / "reports", capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "mean of vitd_serum_nmol" in run.stdout and "dvc repro" not in run.stderr
    lost = subprocess.run([sys.executable, "-m", "analysis", "describe", "age"], cwd="/", capture_output=True, text=True)
    assert lost.returncode == 2 and "--root PROJECT_DIR" in lost.stderr and "Traceback" not in lost.stderr


# ------------------------------------------------------------------------- search


def test_unlabelled_files_borrow_the_label_of_the_same_or_the_day_1_variable():
    table = pd.DataFrame([
        {"where": "file (2017-2018)", "name": "DR1TFOLA", "label": "Total folate (mcg)", "file": "DR1TOT_J.XPT",
         "description": "day 1"},
        {"where": "file (2017-2018)", "name": "WTDR2D", "label": "Dietary two-day sample weight", "file": "DR1TOT_J.XPT",
         "description": "day 1"},
        {"where": "file (2017-2018)", "name": "DR2TFOLA", "label": None, "file": "DR2TOT_J.XPT", "description": "day 2"},
        {"where": "file (2017-2018)", "name": "WTDR2D", "label": None, "file": "DR2TOT_J.XPT", "description": "day 2"},
        {"where": "file (2017-2018)", "name": "DR2XYZ", "label": None, "file": "DR2TOT_J.XPT", "description": "day 2"},
    ])
    labels = lookup.borrowed_labels(table).tolist()
    assert labels[2].startswith("Total folate (mcg) [day 2] (label of DR1TFOLA in DR1TOT_J.XPT")
    assert labels[3].startswith("Dietary two-day sample weight (label from DR1TOT_J.XPT")
    assert labels[4] == "(no label in the file) day 2"

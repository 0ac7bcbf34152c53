"""`python -m analysis model`: formulas parsed by formulaic, fitted by the survey layer, equal to R's
svyglm to 1e-6 (gaussian, binomial, quasipoisson) on data the tests build; a usual-intake term's
SEs equal the pipeline's replicate computation; every misuse is a message, never a traceback."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.commands import modeling
from analysis.commands.cli import main
from analysis.core.config import load_params
from analysis.core.errors import ConfigError
from tests import synthetic
from tests.conftest import REPO
from tests.oracle_tools import assert_agree, run_oracle

PARAMS = load_params(REPO / "params.yaml")
TERMS = ["vitd_supp_user", "mg_adequate", "vitd_supp_user:mg_adequate", "age", "sex", "race_eth"]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    data = synthetic.analytic_table(n_per_psu=40, seed=21)
    data["vitd_below_50"] = data["vitd_below_50"].astype("boolean")
    return data


@pytest.mark.oracle
@pytest.mark.parametrize("outcome, family, r_family", [("vitd_serum_nmol", "gaussian", "gaussian"),
                                                       ("vitd_below_50", "binomial", "binomial"),
                                                       ("vitd_serum_nmol", "quasipoisson", "poisson")])
def test_model_equals_svyglm(frame, tmp_path, outcome, family, r_family):
    formula = f"{outcome} ~ vitd_supp_user * mg_adequate + age + C(sex, contr.treatment('female')) + C(race_eth)"
    result = modeling.fit(formula, family=family, where="age >= 20", frame=frame, params=PARAMS)
    assert result.weight == "wt_day1" and "Taylor" in result.variance
    data = frame.assign(in_model=(frame["wt_day1"] > 0) & (frame["age"] >= 20)
                        & frame[[outcome, "vitd_supp_user", "mg_adequate", "age", "sex", "race_eth"]].notna().all(axis=1))
    r = run_oracle(tmp_path, data, ["sdmvstra", "sdmvpsu", "wt_day1", "in_model", outcome, "vitd_supp_user",
                                    "mg_adequate", "age", "sex", "race_eth"],
                   task="glm", weight="wt_day1", domain="in_model", y=outcome, family=r_family, terms=TERMS,
                   factor=["sex=female", "race_eth=nh_white"])
    assert_agree(result.table, r[r["kind"] == "coef"], columns=("estimate", "std_error", "ci_low", "ci_high", "df"))
    assert result.n == int(data["in_model"].sum())


def test_exponentiated_ratios_and_cycles(frame):
    plain = modeling.fit("vitd_below_50 ~ mg_adequate + age", family="binomial", frame=frame, params=PARAMS)
    ratios = modeling.fit("vitd_below_50 ~ mg_adequate + age", family="binomial", exponentiate=True, frame=frame,
                          params=PARAMS)
    np.testing.assert_allclose(ratios.table["estimate"], np.exp(plain.table["estimate"]))
    one = modeling.fit("vitd_serum_nmol ~ age", cycles=["2009-2010"], frame=frame, params=PARAMS)  # MEC weight
    assert one.n == int(((frame["cycle"] == "2009-2010") & (frame["wt_mec"] > 0) & frame["vitd_serum_nmol"].notna()).sum())


@pytest.mark.parametrize("formula, kw, message", [
    ("vitd_serum_nmol", {}, "write outcome ~ terms"),
    ("vitd_serum_nmol ~ log(age)", {}, "is a transformation"),
    ("vitd_serum_nmol ~ age:bmi:pir", {}, "at most two"),
    ("vitd_serum_nmol ~ nonsense", {}, "unknown column 'nonsense'"),
    ("vitd_serum_nmol ~ C(sex, contr.treatment('x'))", {}, "not a level of sex"),
    ("vitd_serum_nmol ~ age +", {}, "not a formula formulaic can read"),
    ("vitd_serum_nmol ~ 0 + age", {}, "without an intercept"),
    ("sex ~ age", {}, "holds text"),
    ("vitd_serum_nmol ~ age", {"family": "binomial"}, "must be true/false"),
    ("vitd_serum_nmol ~ age", {"family": "logistic"}, "--family"),
    ("vitd_serum_nmol ~ age", {"exponentiate": True}, "--exponentiate goes with"),
    ("vitd_serum_nmol ~ age", {"cycles": ["1999-2000"]}, "--cycles"),
    ("vitd_serum_nmol ~ age", {"where": "age > 'old'"}, "compare it with a number"),
    ("vitd_serum_nmol ~ mg_adequate_usual", {}, "usual stage"),  # the frame has no usual-intake columns
])
def test_misuse_is_a_clear_message(frame, formula, kw, message):
    with pytest.raises(ConfigError, match=message):
        modeling.fit(formula, frame=frame, params=PARAMS, **kw)


@pytest.mark.mirror
def test_a_usual_intake_term_gets_the_pipelines_replicate_ses(analyzed_project):
    usual = pd.read_csv(analyzed_project / "reports/tables/interaction_usual.csv")
    pipeline = usual[usual["model"] == "use_x_mg_adequacy_usual"].set_index("term")
    covariates = pipeline["covariates"].iloc[0].replace(" ", "").split(",")
    wrapped = [f"C({c})" if c in ("sex", "race_eth", "education", "smoking", "season", "cycle") else c for c in covariates]
    formula = "vitd_serum_nmol ~ vitd_supp_user * mg_adequate_usual + " + " + ".join(wrapped)
    result = modeling.fit(formula, where="in_main == True", root=analyzed_project)
    assert "replicates rerunning the usual-intake model" in result.variance and result.weight == "wt_day1"
    ours = result.table.set_index("term")
    for term in ["vitd_supp_user", "mg_adequate_usual", "vitd_supp_user:mg_adequate_usual", "age"]:
        key = term if term in pipeline.index else ":".join(reversed(term.split(":")))
        assert ours.loc[term, "std_error"] == pytest.approx(pipeline.loc[key, "std_error"], rel=1e-6), term
        assert ours.loc[term, "estimate"] == pytest.approx(pipeline.loc[key, "estimate"], rel=1e-6), term


def test_cli_misuse_exits_2_without_a_traceback(tmp_path, capsys):
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    cases = [["model", "y ~ x"], ["model", "vitd ~"], ["describe", "x"], ["search", "magnesium"],
             ["estimate", "mean", "x"]]
    for argv in cases:
        assert main(["--root", str(tmp_path)] + argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "Traceback" not in err, (argv, err)

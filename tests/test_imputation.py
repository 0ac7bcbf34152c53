"""Multiple imputation: Rubin's rules with Barnard-Rubin df equal R's mitools::MIcombine on the
same fitted survey GLMs; imputation keeps the outcome and exposures as they are; the pipeline's
table puts complete cases beside the combined imputations; the fits see the whole design."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.analyses import imputation
from analysis.analyses.common import Context
from analysis.core.config import load_params
from analysis.survey import combine
from analysis.survey.design import ModelSpec, SurveyData
from tests import synthetic
from tests.conftest import REPO
from tests.oracle_tools import require_r

ORACLE = Path(__file__).parent / "oracle" / "mi_oracle.R"


def imputed_sets(m: int = 5) -> list[pd.DataFrame]:
    """m copies of a synthetic table whose missing BMI is filled by different random draws."""
    base = synthetic.analytic_table(n_per_psu=30, cycles=synthetic.CYCLES[:2], seed=51)
    base["dom"] = base["in_adults"] & base["recall_day1_reliable"] & base["vitd_serum_nmol"].notna()
    missing = base["bmi"].isna()
    rng = np.random.default_rng(52)
    out = []
    for _ in range(m):
        frame = base.copy()
        frame.loc[missing, "bmi"] = rng.normal(28, 6, int(missing.sum()))
        out.append(frame)
    return out


@pytest.mark.oracle
@pytest.mark.parametrize("family,outcome", [("gaussian", "vitd_serum_nmol"), ("binomial", "vitd_below_50")])
def test_rubins_rules_equal_r_mitools(tmp_path, family, outcome):
    require_r()
    sets = imputed_sets()
    spec = ModelSpec(outcome, ("vitd_supp_user", "mg_adequate", "vitd_supp_user:mg_adequate", "bmi", "age"), family=family)
    fits = [SurveyData(frame).glm(spec, "wt_day1", "dom") for frame in sets]
    combined = combine.rubin(np.array([f.coef for f in fits]), np.array([np.diag(f.vcov) for f in fits]), fits[0].df)
    columns = ["sdmvstra", "sdmvpsu", "wt_day1", "dom", outcome, "vitd_supp_user", "mg_adequate", "bmi", "age"]
    stacked = pd.concat([f[columns].astype(float).assign(**{".imp": i + 1}) for i, f in enumerate(sets)])
    data_path = tmp_path / "mi.csv"
    stacked.to_csv(data_path, index=False, float_format="%.17g", na_rep="NA")
    spec_path = tmp_path / "spec.csv"
    pd.DataFrame([("data", str(data_path)), ("out", str(tmp_path / "out.csv")), ("weight", "wt_day1"), ("domain", "dom"),
                  ("y", outcome), ("terms", "vitd_supp_user;mg_adequate;vitd_supp_user:mg_adequate;bmi;age"),
                  ("family", family)], columns=["key", "value"]).to_csv(spec_path, index=False)
    result = subprocess.run(["Rscript", str(ORACLE), str(spec_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    theirs = pd.read_csv(tmp_path / "out.csv")
    theirs["term"] = theirs["term"].replace({"(Intercept)": "_intercept_"})
    order = [fits[0].index_of(t) for t in theirs["term"]]
    np.testing.assert_allclose(combined["estimate"][order], theirs["estimate"], rtol=1e-6)
    np.testing.assert_allclose(np.sqrt(combined["variance"][order]), theirs["std_error"], rtol=1e-6)
    np.testing.assert_allclose(combined["df"][order], theirs["df"], rtol=1e-6)
    np.testing.assert_allclose(combined["missing_information"][order], theirs["missing_information"], rtol=1e-6)


def test_no_missing_information_when_imputations_agree():
    estimates = np.array([[1.0, 2.0]] * 4)
    combined = combine.rubin(estimates, np.full((4, 2), 0.04), 50.0)
    np.testing.assert_allclose(combined["variance"], 0.04)
    np.testing.assert_allclose(combined["missing_information"], 2 / (50 * 51 / 53 + 3), rtol=1e-9)


@pytest.mark.mirror
def test_table_puts_complete_cases_beside_imputations(analyzed_project):
    table = pd.read_csv(analyzed_project / "reports/tables/multiple_imputation.csv")
    assert set(table["analysis"]) == {"complete cases", "multiple imputation (m = 20)"}
    assert {"use_x_mg_adequacy_usual", "dose_x_mg_adequacy_usual"} <= set(table["model"])
    mi = table[table["analysis"].str.startswith("multiple")]
    cc = table[table["analysis"] == "complete cases"]
    assert (mi["n"] > cc["n"].max()).all()  # imputation keeps those complete cases drop
    assert mi["missing_information"].between(0, 1).all()
    assert (mi["df"] <= cc["df"].max() + 1e-9).all()
    assert table["note"].str.contains("imputed: ").all() and not table["note"].str.contains("vitd_serum").any()


def test_fits_see_the_whole_design_even_a_psu_without_a_completed_person():
    """The imputed (and complete-case) fits take their persons as a domain of the whole design:
    a PSU none of them is in stays in the frame (one row, outside the domain), never dropped."""
    params = load_params(REPO / "params.yaml")
    frame = synthetic.usual_intake_table(n_per_psu=10, cycles=synthetic.CYCLES[:1], seed=5)
    first = frame[["sdmvstra", "sdmvpsu"]].iloc[0]
    in_first_psu = ((frame["sdmvstra"] == first["sdmvstra"]) & (frame["sdmvpsu"] == first["sdmvpsu"])).to_numpy()
    members = frame["in_main"].to_numpy(dtype=bool) & ~in_first_psu
    design = imputation.WholeDesign(Context(frame, params), members)
    n = int(members.sum())
    bmi = np.arange(n, dtype=float)
    out = design.frame({"bmi": bmi}, np.ones(n, bool), np.ones(n, bool))
    assert set(zip(out["sdmvstra"], out["sdmvpsu"])) == set(zip(frame["sdmvstra"], frame["sdmvpsu"]))
    placeholder = (out["sdmvstra"] == first["sdmvstra"]) & (out["sdmvpsu"] == first["sdmvpsu"])
    assert placeholder.sum() == 1 and not out.loc[placeholder, "_domain"].any()
    assert out["_domain"].sum() == n
    np.testing.assert_array_equal(out.loc[out["_domain"], "seqn"], frame.loc[members, "seqn"])
    np.testing.assert_array_equal(out.loc[out["_domain"], "bmi"], bmi)
    # complete cases: a subset of the persons, the domain a subset of those
    rows = np.arange(n) % 2 == 0
    cc = design.frame({"bmi": bmi[rows]}, rows, np.arange(rows.sum()) % 3 > 0)
    assert cc["_domain"].sum() == (np.arange(rows.sum()) % 3 > 0).sum()
    np.testing.assert_array_equal(cc.loc[cc["_domain"], "bmi"], bmi[rows][np.arange(rows.sum()) % 3 > 0])

"""C9 (aortic calcification) and C10 (C-reactive protein) on the synthetic mirror, recomputed by
R's survey package: logistic, quasi-Poisson and gaussian (log CRP) svyglm on the same domain and
weight, estimates on the reported (ratio) scale, SEs, CIs, df and p-values to 1e-6; the
regression-calibrated models' point estimates too (their replicate SEs are checked against R
in test_replicates_oracle)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.oracle_tools import assert_agree, run_oracle

pytestmark = [pytest.mark.mirror, pytest.mark.oracle]

FACTORS = ["sex=male", "race_eth=nh_white", "education=hs_ged", "smoking=never", "season=may_oct", "cycle=2007-2008"]
DESIGN = ["sdmvstra", "sdmvpsu"]
FAMILIES = {"aac_severe": "binomial", "aac_any": "binomial", "aac24_score": "poisson", "crp_log": "gaussian",
            "crp_elevated": "binomial"}


@pytest.fixture(scope="module")
def frame(analyzed_project) -> pd.DataFrame:
    data = pd.read_parquet(analyzed_project / "data_clean/analytic.parquet")
    data = data.merge(pd.read_parquet(analyzed_project / "data_clean/usual_intake.parquet"), on="seqn")
    n_cycles = data["cycle"].nunique()
    aac_cycles = data.loc[data["in_aac"], "cycle"].unique()
    crp_cycles = data.loc[data["in_crp"], "cycle"].unique()
    # the analyses' weights: re-pooled over the cycles each outcome was measured in
    data["wt_day1_aac_cycles"] = np.where(data["cycle"].isin(aac_cycles), data["wt_day1"] * n_cycles / len(aac_cycles), 0)
    data["wt_mec_crp_cycles"] = np.where(data["cycle"].isin(crp_cycles), data["wt_mec"] * n_cycles / len(crp_cycles), 0)
    data["wt_day1_crp_cycles"] = np.where(data["cycle"].isin(crp_cycles), data["wt_day1"] * n_cycles / len(crp_cycles), 0)
    data["in_crp_diet"] = data["in_crp"] & data["in_main"] & data["in_usual_calibration"]
    return data


def rows_of(project, table: str, model: str) -> pd.DataFrame:
    t = pd.read_csv(project / f"reports/tables/{table}.csv")
    return t[t["model"] == model]


def refit(tmp_path, frame, rows: pd.DataFrame, exposures: list[str], outcome: str) -> pd.DataFrame:
    first = rows.iloc[0]
    terms = exposures + [c.strip() for c in first["covariates"].split(",")]
    columns = DESIGN + [first["weight"], first["domain"], outcome] + sorted({p for t in terms for p in t.split(":")})
    factors = [f for f in FACTORS if f.split("=")[0] in columns]
    r = run_oracle(tmp_path, frame, columns, task="glm", weight=first["weight"], domain=first["domain"],
                   family=FAMILIES[outcome], terms=terms, factor=factors, y=outcome)
    theirs = r[r["kind"] == "coef"].copy()
    theirs[["estimate", "ci_low", "ci_high"]] = np.exp(theirs[["estimate", "ci_low", "ci_high"]])  # ratios
    return theirs


def coefficients(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[~rows["term"].str.contains(" ")]


@pytest.mark.parametrize("outcome", ["aac_severe", "aac24_score"])
def test_calcification_day1_models(analyzed_project, frame, tmp_path, outcome):
    rows = rows_of(analyzed_project, "calcification", f"{outcome}_by_dose_x_mg_adequacy_day1")
    theirs = refit(tmp_path, frame, rows, ["dose10", "mg_adequate", "dose10:mg_adequate"], outcome)
    assert_agree(coefficients(rows), theirs, columns=("estimate", "std_error", "ci_low", "ci_high", "df", "p_value"))
    assert (rows["df"] < 15).all()  # one cycle: 15 design df, less the extra coefficients


@pytest.mark.parametrize("outcome", ["crp_log", "crp_elevated"])
def test_crp_on_vitamin_d(analyzed_project, frame, tmp_path, outcome):
    rows = rows_of(analyzed_project, "inflammation", f"{outcome}_by_vitd_per25")
    theirs = refit(tmp_path, frame, rows, ["vitd_serum_per25"], outcome)
    assert_agree(coefficients(rows), theirs, columns=("estimate", "std_error", "ci_low", "ci_high", "df", "p_value"))


def test_crp_on_day1_magnesium(analyzed_project, frame, tmp_path):
    rows = rows_of(analyzed_project, "inflammation", "crp_log_by_mg_adequacy_day1")
    theirs = refit(tmp_path, frame, rows, ["mg_adequate"], "crp_log")
    assert_agree(coefficients(rows), theirs, columns=("estimate", "std_error", "ci_low", "ci_high", "df", "p_value"))


@pytest.mark.parametrize("table,model,exposures,outcome", [
    ("calcification", "aac24_score_by_dose_x_mg_adequacy_usual",
     ["dose10", "mg_adequate_usual", "dose10:mg_adequate_usual"], "aac24_score"),
    ("inflammation", "crp_log_by_mg_adequacy_usual", ["mg_adequate_usual"], "crp_log"),
])
def test_calibrated_point_estimates(analyzed_project, frame, tmp_path, table, model, exposures, outcome):
    rows = rows_of(analyzed_project, table, model)
    theirs = refit(tmp_path, frame, rows, exposures, outcome)
    assert_agree(coefficients(rows), theirs, columns=("estimate", "df"))
    assert (rows["variance"] == "jackknife").all()


def test_claims_c9_and_c10_have_rows_with_the_articles_words(analyzed_project):
    claims = pd.read_csv(analyzed_project / "reports/claims.csv").set_index("claim_id")
    assert "verkalking van slagaders" in claims.loc["C9", "words"]
    assert "systemische ontsteking" in claims.loc["C10", "words"]
    inflammation = pd.read_csv(analyzed_project / "reports/tables/inflammation.csv")
    vitd = inflammation[(inflammation["model"] == "crp_log_by_vitd_per25") & (inflammation["term"] == "vitd_serum_per25")]
    assert claims.loc["C10", "estimate"] == pytest.approx(vitd["estimate"].iloc[0])
    assert claims.loc["C9", "verdict"] in ("supported", "contradicted", "inconclusive")


def test_c1b_percentiles_equal_r_svyquantile(analyzed_project, frame, tmp_path):
    """Each group's percentiles: R's svyquantile (qrule "math") on the same domain, with the
    weight times P(usual magnesium adequate), or times 1 - P."""
    table = pd.read_csv(analyzed_project / "reports/tables/vitd_percentiles.csv")
    probs = sorted(table["percentile"].unique())
    data = frame.copy()
    data["w_adequate"] = data["wt_day1"] * data["mg_adequate_usual"].fillna(0)
    data["w_inadequate"] = data["wt_day1"] * (1 - data["mg_adequate_usual"].fillna(0))
    data["users"] = data["in_main"] & data["vitd_supp_user"].fillna(False).astype(bool)
    for term, weight in [("adequate", "w_adequate"), ("inadequate", "w_inadequate")]:
        for group, domain in [("all", "in_main"), ("vitd_supp_user=True", "users")]:
            r = run_oracle(tmp_path, data, DESIGN + [weight, domain, "vitd_serum_nmol"], task="quantile", weight=weight,
                           domain=domain, y="vitd_serum_nmol", probs=";".join(str(p / 100) for p in probs))
            ours = table[(table["term"] == term) & (table["group"] == group)].sort_values("percentile")
            np.testing.assert_allclose(ours["estimate"].to_numpy(), r["estimate"].to_numpy(), rtol=1e-6)

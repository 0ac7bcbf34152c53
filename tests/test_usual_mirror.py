"""The usual stage and the usual-intake analyses on the synthetic mirror: the tables the
issue asks for, claims taken from them with the day-1 results as sensitivity, documented
per-person columns, and the calibrated models' point estimates recomputed by R's survey."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.oracle_tools import assert_agree, run_oracle

pytestmark = pytest.mark.mirror


@pytest.fixture(scope="module")
def usual_table(analyzed_project) -> pd.DataFrame:
    return pd.read_csv(analyzed_project / "reports/tables/usual_intake.csv")


def test_model_parameters_per_nutrient(usual_table):
    params = usual_table[usual_table["model"] == "calibration_model"].set_index("term")
    for nutrient in ["kcal", "mg", "ca", "vitd"]:
        for stem in ["lambda", "between_person_variance", "within_person_variance", "within_to_between_ratio"]:
            assert f"{stem}[{nutrient}]" in params.index
        assert 0 <= params.loc[f"lambda[{nutrient}]", "estimate"] <= 1
        ratio = params.loc[f"within_to_between_ratio[{nutrient}]", "estimate"]
        assert ratio == pytest.approx(params.loc[f"within_person_variance[{nutrient}]", "estimate"]
                                      / params.loc[f"between_person_variance[{nutrient}]", "estimate"])
    assert (params["variance"] == "jackknife").all()
    variances = params[params.index.str.contains("variance")]
    assert (variances["std_error"] > 0).all()  # lambda at its bound (0, the log) may not move


def test_usual_shares_below_the_ear_by_group(usual_table):
    shares = usual_table[usual_table["term"].isin(["mg_total_usual_below_ear", "mg_food_usual_below_ear"])]
    assert set(shares["group_by"]) == {"all", "sex", "age_group", "vitd_supp_user"}
    assert (shares["ci_low"] < shares["estimate"]).all() and (shares["estimate"] < shares["ci_high"]).all()
    assert (shares["df"] == 92).all()
    overall = usual_table[usual_table["group"] == "all"].set_index("term")["estimate"]
    # one day's distribution is wider: more people below the EAR, on food and on food + supplements
    assert overall["mg_food_usual_below_ear"] < overall["mg_food_2day_below_ear"] < overall["mg_food_day1_below_ear"]
    assert overall["mg_total_usual_below_ear"] < overall["mg_total_day1_below_ear"]
    # supplements only add: the usual total distribution lies above the food one
    assert overall["mg_total_usual_below_ear"] < overall["mg_food_usual_below_ear"]
    assert overall["mg_total_usual_p50"] > overall["mg_food_usual_p50"]


def test_percentiles_increase_and_monte_carlo_agrees(usual_table):
    rows = usual_table[usual_table["model"] == "usual_intake_distribution"]
    for (source, group), part in rows[rows["term"].str.contains("_p")].groupby(
            [rows["term"].str.rsplit("_", n=1).str[0], "group"]):
        assert part.sort_values("term")["estimate"].is_monotonic_increasing, (source, group)
    shares = rows[rows["term"].str.endswith("below_ear")]
    assert np.abs(shares["estimate"] - shares["monte_carlo"]).max() < 0.005
    percentiles = rows[rows["term"].str.contains("_p")]
    assert (np.abs(percentiles["estimate"] / percentiles["monte_carlo"] - 1)).max() < 0.01


def test_interaction_usual_table_and_claims(analyzed_project):
    table = pd.read_csv(analyzed_project / "reports/tables/interaction_usual.csv")
    assert {"vitd_supp_user:mg_adequate_usual", "dose10:mg_adequate_usual"} <= set(table["term"])
    assert {"vitd_supp_user effect | mg_adequate_usual = 0", "vitd_supp_user effect | mg_adequate_usual = 1"} <= \
        set(table["term"])
    assert (table["variance"] == "jackknife").all()
    claims = pd.read_csv(analyzed_project / "reports/claims.csv").set_index("claim_id")
    use = table[table["term"] == "interaction vitd_supp_user x mg_adequate_usual"].iloc[0]
    assert claims.loc["C1", "estimate"] == pytest.approx(use["estimate"])
    assert claims.loc["C1", "ci_low"] == pytest.approx(use["ci_low"])
    for cid in ["C1", "C2", "C3", "C4", "C5"]:
        assert "usual" in claims.loc[cid, "test"]
        assert "sensitivity, one day's intake" in claims.loc[cid, "reason"]
    comparison = pd.read_csv(analyzed_project / "reports/tables/usual_vs_day1.csv")
    c1 = comparison[comparison["claim_id"] == "C1"].set_index("basis")["estimate"]
    # correcting the modifier's misclassification moves the interaction away from zero
    assert abs(c1["usual intake (primary)"]) > abs(c1["day-1 intake (sensitivity)"])


def test_per_person_columns_are_documented_and_sane(analyzed_project):
    persons = pd.read_parquet(analyzed_project / "data_clean/usual_intake.parquet")
    dictionary = pd.read_csv(analyzed_project / "data_clean/dictionary.csv")
    documented = set(dictionary.loc[dictionary["file"] == "usual_intake.parquet", "column"])
    assert set(persons.columns) - {"seqn"} == documented
    inside = persons[persons["in_usual_calibration"]]
    for column in ["mg_adequate_usual", "vitd_adequate_usual", "mg_vitd_adequate_usual", "high_ca_mg_ratio_usual"]:
        assert inside[column].between(0, 1).all()
    assert (inside["mg_vitd_adequate_usual"] <= inside[["mg_adequate_usual", "vitd_adequate_usual"]].min(axis=1) + 1e-6).all()
    assert (inside["mg_total_usual_mg"] >= inside["mg_food_usual_mg"]).all()
    assert persons.loc[~persons["in_usual_calibration"], "mg_adequate_usual"].isna().all()
    model = json.loads((analyzed_project / "data_clean/usual_model.json").read_text())
    assert model["replicates"]["n"] == len(model["calibration"]["replicates"]) == 182


def test_calibrated_point_estimates_equal_r_svyglm(analyzed_project, tmp_path):
    """The full-sample fit of the calibrated C1 model equals R's svyglm on the usual columns
    (its replicate SEs are checked against R in test_replicates_oracle)."""
    frame = pd.read_parquet(analyzed_project / "data_clean/analytic.parquet")
    frame = frame.merge(pd.read_parquet(analyzed_project / "data_clean/usual_intake.parquet"), on="seqn")
    rows = pd.read_csv(analyzed_project / "reports/tables/interaction_usual.csv")
    rows = rows[rows["model"] == "use_x_mg_adequacy_usual"]
    exposures = ["vitd_supp_user", "mg_adequate_usual", "vitd_supp_user:mg_adequate_usual"]
    terms = exposures + [c.strip() for c in rows["covariates"].iloc[0].split(",")]
    columns = ["sdmvstra", "sdmvpsu", "wt_day1", "in_main", "vitd_serum_nmol"] + \
        sorted({p for t in terms for p in t.split(":")})
    factors = ["sex=male", "race_eth=nh_white", "education=hs_ged", "smoking=never", "season=may_oct", "cycle=2007-2008"]
    r = run_oracle(tmp_path, frame, columns, task="glm", weight="wt_day1", domain="in_main", family="gaussian",
                   terms=terms, factor=factors, y="vitd_serum_nmol")
    ours = rows[~rows["term"].str.contains(" ")]
    assert_agree(ours, r[r["kind"] == "coef"], columns=("estimate",))

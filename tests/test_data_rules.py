"""Real data's quirks on constructed participants: each rule of analysis/clean/data_rules.py does what
it says, and reports/tables/data_rules.csv counts it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.clean import stage as clean
from analysis.clean import derive
from analysis.data import raw
from analysis.clean import features
from analysis.analyses import published
from analysis.data.catalog import load_catalog
from analysis.core.config import load_params
from tests.conftest import REPO, write_xpt
from tests.test_derive import raw_row

PARAMS = load_params(REPO / "params.yaml")


def build(rows: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    analytic, _, rules = clean.build(pd.DataFrame(rows), PARAMS)
    return analytic.set_index("seqn"), rules.set_index("rule")


def test_zero_magnesium_day_gives_a_high_ratio_and_zero_both_leaves_c5():
    analytic, rules = build([raw_row(SEQN=1.0, DR1TMAGN=0.0, DS1TMAGN=np.nan),           # Mg 0, Ca > 0
                             raw_row(SEQN=2.0, DR1TMAGN=0.0, DS1TMAGN=np.nan, DR1TCALC=0.0, DS1TCALC=np.nan),
                             raw_row(SEQN=3.0)])
    frame = analytic  # the clean stage makes the analysis-time columns too
    assert frame.loc[1, "mg_total_mg"] == 0 and np.isnan(frame.loc[1, "ca_mg_ratio"])
    assert bool(frame.loc[1, "high_ca_mg_ratio"])          # 200 mg calcium, no magnesium: infinite ratio
    assert pd.isna(frame.loc[2, "high_ca_mg_ratio"])       # 0 / 0: no ratio
    assert bool(frame.loc[3, "high_ca_mg_ratio"])          # 1000 / 350 = 2.86 > 2.8
    assert rules.loc["zero_magnesium_some_calcium", "n"] == 1 and rules.loc["zero_ca_and_mg", "n"] == 1
    assert rules.loc["zero_magnesium_recall_day", "n"] == 2


def test_high_ratio_is_the_product_comparison():
    out = features.high_ratio(pd.Series([900.0, 840.0, 30.0, 0.0, np.nan]), pd.Series([300.0, 300.0, 0.0, 0.0, 10.0]), 2.8)
    assert out.tolist()[:3] == [True, False, True]
    assert out.iloc[3:].isna().all()


def test_unreliable_recalls_and_a_day_2_without_day_1_are_counted_and_not_used():
    analytic, rules = build([raw_row(SEQN=1.0, DR1DRSTZ=2.0),                 # day 1 not reliable, day 2 reliable
                             raw_row(SEQN=2.0, DR1DRSTZ=5.0, DR2DRSTZ=np.nan),  # day 1 not done
                             raw_row(SEQN=3.0, DR2DRSTZ=2.0)])                # day 2 not reliable
    assert analytic.loc[[1, 2], "mg_food_mg"].isna().all() and np.isnan(analytic.loc[1, "mg_food_2day_mg"])
    assert np.isnan(analytic.loc[3, "mg_food_day2_mg"]) and analytic.loc[3, "mg_food_mg"] == 250.0
    assert not analytic.loc[1, "in_main"] and analytic.loc[3, "in_main"]
    assert rules.loc["recall_day1_not_reliable", "n"] == 2
    assert rules.loc["recall_day2_without_day1", "n"] == 1
    assert rules.loc["recall_day2_not_reliable", "n"] == 1
    assert rules.loc["recall_day1_not_reliable", "by_cycle"] == "2017-2018: 2"


def test_supplement_user_without_a_nutrient_gets_0_and_unknown_stays_missing():
    analytic, rules = build([raw_row(SEQN=1.0, DS1DSCNT=2.0, DS1TMAGN=np.nan),
                             raw_row(SEQN=2.0, DS1DSCNT=np.nan, DS1TMAGN=np.nan, DS1TVD=np.nan)])
    assert analytic.loc[1, "mg_supp_mg"] == 0.0 and analytic.loc[1, "vitd_supp_ug"] == 25.0
    assert np.isnan(analytic.loc[2, "mg_supp_mg"]) and not analytic.loc[2, "in_main"]
    assert rules.loc["supplement_user_without_magnesium_DS1TOT", "n"] == 1
    assert rules.loc["supplement_interview_missing", "n"] == 1


def test_detection_limits_scans_and_pregnancy_codes():
    analytic, rules = build([raw_row(SEQN=1.0, LBXHSCRP=np.nan, LBDHRPLC=np.nan, LBXCRP=0.01),  # standard CRP at fill value
                             raw_row(SEQN=2.0, LBXHSCRP=0.08, LBDHRPLC=1.0),
                             raw_row(SEQN=3.0, DXAFMRST=3.0, DXXNKBMD=0.61, DXXAACTV=1.0),
                             raw_row(SEQN=4.0, RIDEXPRG=3.0, DS1TVD=1250.0)])
    assert analytic.loc[1, "crp_mg_l"] == pytest.approx(0.1) and bool(analytic.loc[1, "crp_below_detection"])
    assert bool(analytic.loc[2, "crp_below_detection"]) and analytic.loc[2, "crp_mg_l"] == 0.08
    assert np.isnan(analytic.loc[3, "femneck_bmd"]) and np.isnan(analytic.loc[3, "aac24_score"])
    assert not analytic.loc[4, "pregnant"] and analytic.loc[4, "vitd_supp_ug_capped"] == 250.0
    for rule in ["crp_below_detection"]:
        assert rules.loc[rule, "n"] == 2
    for rule in ["femur_scan_not_complete", "aac_score_not_valid", "pregnancy_not_ascertained", "vitd_supplement_above_cap"]:
        assert rules.loc[rule, "n"] == 1, rule


def test_reading_counts_sas_zeros_and_special_codes(tmp_path):
    """pyreadstat itself reads SAS's 5.397605e-79 as 0; any other value below the epsilon is
    made 0 by the pipeline and counted."""
    path = write_xpt(tmp_path / "SMQ_J.XPT", pd.DataFrame({"SEQN": [1.0, 2.0, 3.0, 4.0], "SMQ020": [1.0, 7.0, 9.0, 2.0],
                                                            "SMQ040": [1e-70, 3.0, np.nan, np.nan]}))
    counts = raw.ReadCounts()
    frame = raw.read_component(path, load_catalog(), "2017-2018", "SMQ", 1e-30, counts)
    assert frame["SMQ020"].isna().sum() == 2 and frame["SMQ040"].iloc[0] == 0.0
    table = counts.table().set_index(["rule", "variable"])
    assert table.loc[("special_code_missing", "SMQ020"), "n"] == 2
    assert table.loc[("sas_underflow_zero", "SMQ040"), "n"] == 1
    analytic, _, rules = clean.build(pd.DataFrame([raw_row()]), PARAMS, counts)
    read = rules[rules["rule"] == "special_code_missing"].set_index("variables")
    assert read.loc["SMQ020", "n"] == 2 and read.loc["SMQ020", "by_cycle"] == "2017-2018: 2"


def test_any_supplement_in_30_days():
    out = derive.yes_no(pd.Series([1.0, 2.0, np.nan]))
    assert out.tolist()[:2] == [True, False] and pd.isna(out.iloc[2])


def test_published_check_tolerance_is_the_se_or_half_the_last_digit():
    from analysis.analyses import published

    assert published.tolerance({"published_se": 0.008, "rounding": 0.001}) == 0.008
    assert published.tolerance({"published_se": None, "rounding": 0.001}) == 0.0005


def test_published_checks_on_the_synthetic_mirror_say_what_they_cannot_compute(analyzed_project):
    checks = pd.read_csv(analyzed_project / "reports/tables/published_checks.csv")
    assert len(checks) == len(published.load_checks())
    brief = checks[checks["source"].str.contains("Data Brief 399")]
    # the synthetic DSQTOT has no DSD010: not computable, said, never a 0
    assert brief["note"].str.startswith("not computable").all() and brief["estimate"].isna().all()
    computed = checks.dropna(subset=["estimate"])
    assert len(computed) >= 2
    assert ((computed["difference"] - (computed["estimate"] - computed["published"])).abs() < 1e-9).all()
    assert (computed["agrees"].astype(bool) == (computed["difference"].abs() <= computed["tolerance"] + 1e-9)).all()


def test_mortality_linkage_causes_and_follow_up_rules():
    analytic, rules = build([
        raw_row(SEQN=1.0, ELIGSTAT=1.0, MORTSTAT=1.0, UCOD_LEADING=5.0, PERMTH_EXM=30.0),   # stroke: cardiovascular
        raw_row(SEQN=2.0, ELIGSTAT=1.0, MORTSTAT=1.0, UCOD_LEADING=2.0, PERMTH_EXM=12.0),   # cancer: censored for CVD
        raw_row(SEQN=3.0, ELIGSTAT=1.0, MORTSTAT=1.0, UCOD_LEADING=1.0, PERMTH_EXM=0.0),    # heart, in the exam month
        raw_row(SEQN=4.0, ELIGSTAT=2.0, MORTSTAT=np.nan, PERMTH_EXM=np.nan, PERMTH_INT=np.nan),  # under 18
        raw_row(SEQN=5.0, ELIGSTAT=1.0, MORTSTAT=1.0, UCOD_LEADING=10.0, cycle="2015-2016"),  # coarsened cause
        raw_row(SEQN=6.0, ELIGSTAT=1.0, MORTSTAT=1.0, UCOD_LEADING=np.nan),                   # a death without a cause
        raw_row(SEQN=7.0, ELIGSTAT=1.0, MORTSTAT=0.0, PERMTH_EXM=np.nan, RIDSTATR=1.0),      # linked, not examined
    ])
    assert analytic.loc[1, ["died", "died_cvd", "died_heart"]].tolist() == [True, True, False]
    assert analytic.loc[2, ["died", "died_cvd", "died_heart"]].tolist() == [True, False, False]
    assert analytic.loc[3, ["died_cvd", "died_heart"]].tolist() == [True, True] and analytic.loc[3, "followup_exam_months"] == 0
    assert pd.isna(analytic.loc[4, "died"]) and pd.isna(analytic.loc[4, "followup_exam_months"]) and not analytic.loc[4, "mort_linked"]
    assert bool(analytic.loc[6, "died"]) and pd.isna(analytic.loc[6, "died_cvd"])  # cause unknown: not guessed
    assert not analytic.loc[6, "in_mort"] and analytic.loc[1, "in_mort"]
    assert rules.loc["mortality_not_linked", "n"] == 1
    assert rules.loc["mortality_cerebrovascular_death", "n"] == 1
    assert rules.loc["mortality_other_cause_censored", "n"] == 2   # cancer and 010
    assert rules.loc["mortality_death_without_cause", "n"] == 1
    assert rules.loc["mortality_cause_coarsened", "n"] == 1
    assert rules.loc["mortality_followup_zero", "n"] == 1
    assert rules.loc["mortality_linked_not_examined", "n"] == 1
    assert rules.loc["mortality_alive_censored", "n"] == 1

"""Derivations on small frames built here: each rule of data_clean/dictionary.csv, checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.clean import derive
from analysis.data import xpt
from analysis.core.config import load_params
from tests.conftest import REPO

PARAMS = load_params(REPO / "params.yaml")


def test_mg_ear_by_age_and_sex():
    age = pd.Series([15, 18, 19, 30, 31, 80, 15, 25, 45, 5])
    sex = pd.Series(["male"] * 6 + ["female"] * 3 + ["male"])
    ear = derive.mg_ear(age, sex, PARAMS["clean"]["mg_ear_mg"])
    assert ear.tolist() == [340, 340, 330, 330, 350, 350, 300, 255, 265, 110]


def test_mg_ear_missing_sex_gives_missing():
    ear = derive.mg_ear(pd.Series([40.0]), pd.Series([None], dtype="string"), PARAMS["clean"]["mg_ear_mg"])
    assert ear.isna().all()


def test_special_codes_become_missing_in_categories():
    education = derive.categorize(pd.Series([1, 2, 3, 4, 5, 7, 9, np.nan]), derive.EDUCATION)
    assert education.tolist()[:5] == ["lt_hs", "lt_hs", "hs_ged", "some_college", "college_grad"]
    assert education.iloc[5:].isna().all()


def test_smoking_status():
    smq020 = pd.Series([2, 1, 1, 1, 1, np.nan])
    smq040 = pd.Series([np.nan, 1, 2, 3, np.nan, np.nan])
    out = derive.smoking_status(smq020, smq040)
    assert out.tolist()[:4] == ["never", "current", "current", "former"]
    assert out.iloc[4:].isna().all()


def test_supplement_amount_zero_for_non_users_missing_when_unknown():
    count = pd.Series([0.0, 2.0, 1.0, np.nan])
    nutrient = pd.Series([np.nan, 25.0, np.nan, np.nan])  # user of a product without vitamin D: NaN in CDC files
    out = derive.supplement_amount(count, nutrient)
    assert out.iloc[:3].tolist() == [0.0, 25.0, 0.0]
    assert np.isnan(out.iloc[3])


def test_two_day_mean_only_when_both_recalls_reliable():
    out = derive.two_day_mean(pd.Series([300.0, 300.0, 300.0]), pd.Series([200.0, 200.0, np.nan]),
                              pd.Series([True, True, True]), pd.Series([True, False, True]))
    assert out.iloc[0] == 250.0
    assert out.iloc[1:].isna().all()


def test_ca_mg_ratio_and_adequacy():
    ratio = derive.ratio(pd.Series([900.0, 500.0, 100.0]), pd.Series([300.0, 0.0, np.nan]))
    assert ratio.iloc[0] == 3.0 and ratio.iloc[1:].isna().all()
    adequate = derive.at_least(pd.Series([350.0, 349.9, np.nan]), pd.Series([350.0, 350.0, 350.0]))
    assert adequate.tolist()[:2] == [True, False] and pd.isna(adequate.iloc[2])


def test_pooled_weight_divides_and_zero_fills():
    out = derive.pooled_weight(pd.Series([600.0, np.nan, 0.0]), 6)
    assert out.tolist() == [100.0, 0.0, 0.0]


def test_osteoporosis_cutoff_is_0558_inclusive():
    assert derive.osteoporosis_bmd_cutoff(PARAMS["clean"]) == pytest.approx(0.558)
    bmd = pd.Series([0.557, 0.558, 0.559, np.nan])
    out = derive.at_least(-bmd, -derive.osteoporosis_bmd_cutoff(PARAMS["clean"]))
    assert out.tolist()[:3] == [True, True, False] and pd.isna(out.iloc[3])


def test_sas_underflow_zero():
    frame = pd.DataFrame({"DS1TVD": [5.397605346934028e-79, 12.5, np.nan, 0.0]})
    out = xpt.zero_sas_underflow(frame, 1e-30)
    assert out["DS1TVD"].iloc[0] == 0.0 and out["DS1TVD"].iloc[1] == 12.5 and np.isnan(out["DS1TVD"].iloc[2])


def raw_row(**overrides) -> dict:
    row = dict(SEQN=1.0, cycle="2017-2018", SDMVSTRA=150.0, SDMVPSU=1.0, RIDSTATR=2.0, WTINT2YR=6500.0, WTMEC2YR=6000.0,
               WTDRD1=5400.0, WTDR2D=4800.0, RIDAGEYR=45.0, RIAGENDR=2.0, RIDRETH1=3.0, DMDEDUC2=4.0,
               INDFMPIR=2.5, SMQ020=2.0, SMQ040=np.nan, RIDEXMON=2.0, RIDEXPRG=2.0, BMXBMI=27.0,
               LBXVIDMS=62.0, DR1DRSTZ=1.0, DR2DRSTZ=1.0, DR1TKCAL=2000.0, DR1TMAGN=250.0, DR1TVD=4.0,
               DR1TCALC=800.0, DS1DSCNT=1.0, DS1TMAGN=100.0, DS1TVD=25.0, DS1TCALC=200.0,
               DR2TMAGN=230.0, DS2DSCNT=0.0, DS2TMAGN=np.nan, DSDCOUNT=1.0, DSQTVD=20.0, DSQTMAGN=np.nan,
               DXXNKBMD=0.55, OSQ060=1.0, DR1DAY=7.0, DR2DAY=3.0, DR2TKCAL=1800.0, DR2TCALC=700.0, DR2TVD=3.0,
               DS2TVD=np.nan, DS2TCALC=np.nan, DSQTCALC=300.0, DXXAAC24=3.0, DXXAAC8=1.0, DXXAACTV=0.0,
               LBXCRP=np.nan, LBXHSCRP=1.2, LBDHRPLC=0.0, DSD010=1.0, DXAFMRST=1.0, LBDVIDLC=0.0,
               ELIGSTAT=1.0, MORTSTAT=0.0, UCOD_LEADING=np.nan, DIABETES=np.nan, HYPERTEN=np.nan, PERMTH_INT=40.0,
               PERMTH_EXM=39.0, LBXVIDRIA=np.nan, LBXPT21=np.nan, PAD200=np.nan, PAD320=np.nan)
    row.update(overrides)
    return row


def test_usual_supplements_fall_back_to_the_24_hour_recalls():
    raw = pd.DataFrame([raw_row(DSDCOUNT=np.nan)])  # no 30-day questionnaire
    first = derive.derive(raw, PARAMS["clean"]).iloc[0]
    # day 1: 100 mg magnesium, 25 ug vitamin D; day 2: no supplement -> means 50 and 12.5
    assert (first["mg_supp_usual_mg"], first["vitd_supp_usual_ug"]) == (50.0, 12.5)
    assert first["supp_usual_source"] == "24-hour recalls"


def test_derive_one_participant_by_hand():
    raw = pd.DataFrame([raw_row(), raw_row(SEQN=2.0, cycle="2015-2016", DR1DRSTZ=2.0, DS1DSCNT=np.nan)])
    out = derive.derive(raw, PARAMS["clean"])
    first = out.iloc[0]
    assert first["wt_mec"] == 3000.0 and first["wt_day1"] == 2700.0 and first["wt_int"] == 3250.0  # 2 cycles pooled
    assert first["mg_total_mg"] == 350.0 and first["mg_ear_mg"] == 265.0 and bool(first["mg_adequate"])
    assert first["ca_total_mg"] == 1000.0 and first["ca_mg_ratio"] == pytest.approx(1000 / 350)
    assert first["vitd_total_ug"] == 29.0 and bool(first["vitd_supp_user"])
    assert first["mg_total_2day_mg"] == pytest.approx((350 + 230) / 2)
    assert first["mg_supp_30d_mg"] == 0.0 and first["vitd_supp_30d_ug"] == 20.0
    assert bool(first["osteoporosis_dxa"]) and bool(first["osteoporosis_told"])
    assert first["sex"] == "female" and first["race_eth"] == "nh_white" and first["smoking"] == "never"
    assert bool(first["recall_day1_weekend"]) and not bool(first["recall_day2_weekend"])  # Saturday, Tuesday
    assert first["mg_food_day2_mg"] == 230.0 and first["kcal_day2"] == 1800.0 and first["ca_food_mg"] == 800.0
    # usual supplements from the 30-day questionnaire: no magnesium product (0), 20 ug vitamin D, 300 mg calcium
    assert (first["mg_supp_usual_mg"], first["vitd_supp_usual_ug"], first["ca_supp_usual_mg"]) == (0.0, 20.0, 300.0)
    assert first["supp_usual_source"] == "30-day questionnaire"
    second = out.iloc[1]  # unreliable recall: food intake missing, and supplements unknown
    assert np.isnan(second["mg_food_mg"]) and np.isnan(second["mg_supp_mg"]) and pd.isna(second["mg_adequate"])
    assert np.isnan(second["mg_total_2day_mg"])


def test_crp_is_mg_per_l_whichever_assay_the_cycle_used():
    raw = pd.DataFrame([raw_row(SEQN=1.0, cycle="2007-2008", LBXCRP=0.30, LBXHSCRP=np.nan, LBDHRPLC=np.nan),
                        raw_row(SEQN=2.0, cycle="2015-2016", LBXCRP=np.nan, LBXHSCRP=3.0, LBDHRPLC=0.0),
                        raw_row(SEQN=3.0, cycle="2017-2018", LBXCRP=np.nan, LBXHSCRP=0.11, LBDHRPLC=1.0),
                        raw_row(SEQN=4.0, cycle="2011-2012", LBXCRP=np.nan, LBXHSCRP=np.nan, LBDHRPLC=np.nan)])
    for name in ("DXXAAC24", "DXXAAC8", "DXXAACTV"):
        raw[name] = np.nan
    out = derive.derive(raw, PARAMS["clean"])
    assert out["crp_mg_l"].iloc[0] == pytest.approx(out["crp_mg_l"].iloc[1]) == pytest.approx(3.0)
    # below the detection limit: kept as published, flagged, not dropped
    assert out["crp_mg_l"].iloc[2] == 0.11 and bool(out["crp_below_detection"].iloc[2])
    assert not bool(out["crp_below_detection"].iloc[1]) and not bool(out["crp_below_detection"].iloc[0])
    assert pd.isna(out["crp_below_detection"].iloc[3])
    assert np.isnan(out["crp_mg_l"].iloc[3])  # no CRP in 2011-2012


def test_unit_conversions_come_from_the_catalog():
    assert derive.in_unit(pd.Series([0.3]), "mg/dL", "mg/L").iloc[0] == pytest.approx(3.0)
    with pytest.raises(Exception, match="no conversion from ug/dL to mg/L"):
        derive.in_unit(pd.Series([1.0]), "ug/dL", "mg/L")


def test_aac_score_counts_only_from_a_valid_scan():
    score = derive.valid_aac_score(pd.Series([3.0, 9.0, 0.0, np.nan]), pd.Series([0.0, 1.0, 0.0, np.nan]))
    assert score.iloc[0] == 3.0 and score.iloc[2] == 0.0
    assert score.iloc[[1, 3]].isna().all()

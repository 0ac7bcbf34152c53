"""Derived variables as pure functions of columns (each testable on a five-row frame).

Input: the harmonized raw frame (CDC variable names). Output: the analytic columns named in
data_clean/dictionary.csv. Missing stays missing: a value that needs an absent file is NaN,
never 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.data.catalog import load_catalog
from analysis.core.errors import ConfigError

# Conversion of a published unit (analysis/data/catalog.yaml `units`) to the analysis unit.
# 25(OH)D: 1 ng/mL = 2.496 nmol/L (molar mass 400.6 g/mol; CDC's VID documentation).
UNIT_FACTORS = {("mg/dL", "mg/L"): 10.0, ("mg/L", "mg/L"): 1.0, ("ng/mL", "nmol/L"): 2.496, ("pg/mL", "pg/mL"): 1.0}
RACE_ETH = {1: "mexican_american", 2: "other_hispanic", 3: "nh_white", 4: "nh_black", 5: "other"}
EDUCATION = {1: "lt_hs", 2: "lt_hs", 3: "hs_ged", 4: "some_college", 5: "college_grad"}
SEASON = {1: "nov_apr", 2: "may_oct"}
SEX = {1: "male", 2: "female"}
TWO_YEAR_WEIGHTS = {"wt_int": "WTINT2YR", "wt_mec": "WTMEC2YR", "wt_day1": "WTDRD1", "wt_day2": "WTDR2D"}


def pooled_weight(weight: pd.Series, n_cycles: int) -> pd.Series:
    """A 2-year weight divided by the number of cycles pooled; absent weights become 0.

    A participant without a weight (not examined, no dietary recall, or the file is absent)
    carries weight 0: present in the design, contributing nothing to estimates.
    """
    return weight.fillna(0.0) / n_cycles


def categorize(codes: pd.Series, labels: dict[int, str]) -> pd.Series:
    """Map numeric codes to labels; codes outside `labels` (special codes) become missing."""
    return codes.map(lambda v: labels.get(int(v)) if pd.notna(v) else None).astype("string")


def smoking_status(smq020: pd.Series, smq040: pd.Series) -> pd.Series:
    """never (<100 cigarettes in life), former (100+, not now), current (every or some days)."""
    out = pd.Series(pd.NA, index=smq020.index, dtype="string")
    out[smq020 == 2] = "never"
    out[(smq020 == 1) & (smq040 == 3)] = "former"
    out[(smq020 == 1) & smq040.isin([1, 2])] = "current"
    return out


def supplement_amount(count: pd.Series, nutrient: pd.Series) -> pd.Series:
    """Nutrient from supplements: 0 for people who took none (or none containing it).

    CDC leaves the nutrient missing both for non-users and for users of products without
    that nutrient; both mean 0. It stays missing where the supplement count is unknown.
    """
    return nutrient.where(nutrient.notna(), 0.0).where(count.notna())


def mg_ear(age: pd.Series, sex: pd.Series, table: dict[str, list[list[float]]]) -> pd.Series:
    """IOM Estimated Average Requirement for magnesium (mg/day) by sex and age band."""
    out = pd.Series(np.nan, index=age.index)
    for sex_label, bands in table.items():
        for low, high, ear in bands:
            out[(sex == sex_label) & (age >= low) & (age <= high)] = ear
    return out


def at_least(value: pd.Series, threshold: pd.Series | float) -> pd.Series:
    """value >= threshold as a nullable boolean (missing where value is missing)."""
    result = (value >= threshold).astype("boolean")
    return result.mask(value.isna() | pd.Series(threshold, index=value.index).isna())


def two_day_mean(day1: pd.Series, day2: pd.Series, day1_reliable: pd.Series, day2_reliable: pd.Series) -> pd.Series:
    """Mean of the two recalls, only where both days are reliable (DRxDRSTZ == 1)."""
    both = day1_reliable.fillna(False).astype(bool) & day2_reliable.fillna(False).astype(bool)
    return ((day1 + day2) / 2).where(both)


def weekend_recall(day_of_week: pd.Series) -> pd.Series:
    """Recall on a Friday, Saturday or Sunday (DRxDAY 6, 7, 1), the days on which intake is
    higher (NCI's weekend definition); missing where the day is unknown."""
    return day_of_week.isin([6, 7, 1]).astype("boolean").mask(day_of_week.isna())


def usual_supplement(thirty_day: pd.Series, day1: pd.Series, day2: pd.Series) -> pd.Series:
    """Usual daily intake from supplements ("shrink then add", Bailey et al. 2019): the 30-day
    questionnaire's average where it was answered, else the mean of the 24-hour supplement
    recalls at hand; missing where neither is known."""
    recalls = pd.concat([day1, day2], axis=1).mean(axis=1, skipna=True)
    return thirty_day.where(thirty_day.notna(), recalls)


def usual_supplement_source(thirty_day_count: pd.Series, day1_count: pd.Series, day2_count: pd.Series) -> pd.Series:
    """Which instrument `usual_supplement` took for each person."""
    out = pd.Series(pd.NA, index=thirty_day_count.index, dtype="string")
    recalls = day1_count.notna() | day2_count.notna()
    out[recalls] = "24-hour recalls"
    out[thirty_day_count.notna()] = "30-day questionnaire"
    return out


def in_unit(values: pd.Series, unit: str, target: str) -> pd.Series:
    """`values`, published in `unit`, expressed in `target`."""
    try:
        return values * UNIT_FACTORS[(unit, target)]
    except KeyError as exc:
        raise ConfigError(f"analysis/data/catalog.yaml: no conversion from {unit} to {target}") from exc


def crp_mg_per_l(standard: pd.Series, standard_unit: str, high_sensitivity: pd.Series, hs_unit: str) -> pd.Series:
    """C-reactive protein in mg/L from whichever assay the cycle used (standard CRP in 2007-2010,
    high-sensitivity in 2015-2018; a participant has at most one)."""
    return in_unit(high_sensitivity, hs_unit, "mg/L").combine_first(in_unit(standard, standard_unit, "mg/L"))


def below_detection(flag: pd.Series, value: pd.Series, limit: float) -> pd.Series:
    """Below the assay's lower limit of detection: the file's flag where it has one (hs-CRP's
    LBDHRPLC == 1), else a value under the documented limit (standard CRP, whose file stores
    limit / sqrt 2 with no flag); missing where nothing was measured."""
    from_value = (value < limit).astype("boolean").mask(value.isna())
    from_flag = (flag == 1).astype("boolean").mask(flag.isna())
    return from_flag.combine_first(from_value)


def physical_activity(vigorous: pd.Series, moderate: pd.Series) -> pd.Series:
    """Leisure-time activity over the past 30 days (PAQ 2001-2006): vigorous (PAD200 = 1),
    else moderate (PAD320 = 1), else inactive (both 2 = no, or 3 = unable to do it); missing
    where either answer is unknown and the other does not decide it."""
    out = pd.Series(pd.NA, index=vigorous.index, dtype="string")
    no = {2.0, 3.0}
    out[vigorous.isin(no) & moderate.isin(no)] = "inactive"
    out[vigorous.isin(no) & (moderate == 1)] = "moderate"
    out[vigorous == 1] = "vigorous"
    return out


def complete_scan(value: pd.Series, status: pd.Series) -> pd.Series:
    """A DXA measurement counts only from a complete scan (status 1); where the file carries no
    status the value is kept as published."""
    return value.where(status.isna() | (status == 1))


def yes_no(codes: pd.Series) -> pd.Series:
    """1 yes -> True, 2 no -> False; anything else (7, 9 were made missing on reading) missing."""
    return codes.map({1.0: True, 2.0: False}).astype("boolean")


def valid_aac_score(score: pd.Series, invalidity: pd.Series) -> pd.Series:
    """An AAC score counts only where the scan's total-score invalidity code is 0 (valid)."""
    return score.where(invalidity == 0)


def linked(eligibility: pd.Series) -> pd.Series:
    """Linked to the National Death Index: ELIGSTAT 1; 2 (under 18) and 3 (too little identifying
    data) are not; missing where the cycle has no linked mortality file."""
    return (eligibility == 1).astype("boolean").mask(eligibility.isna())


def died_of(mortstat: pd.Series, cause: pd.Series, eligible: pd.Series, causes: list[int] | None = None) -> pd.Series:
    """Dead by 31 December 2019 (MORTSTAT 1), of one of `causes` (UCOD_LEADING codes) if given;
    a death of another cause is False (censored at death, the cause-specific hazard). Missing
    for people not linked, and for a death whose cause the file leaves blank."""
    dead = mortstat == 1
    out = dead if causes is None else dead & cause.isin(causes)
    if causes is not None:
        out = out.astype("boolean").mask(dead & cause.isna())
    return out.astype("boolean").mask(~eligible.fillna(False).astype(bool) | mortstat.isna())


def ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return (numerator / denominator).where(denominator > 0)


def t_score(bmd: pd.Series, reference_mean: float, reference_sd: float) -> pd.Series:
    return (bmd - reference_mean) / reference_sd


def osteoporosis_bmd_cutoff(params: dict) -> float:
    """BMD at the T-score cut-off (0.858 - 2.5 x 0.120 = 0.558 g/cm2), rounded to avoid float noise."""
    return round(params["femneck_reference_mean"] + params["osteoporosis_t_score"] * params["femneck_reference_sd"], 9)


def derive(raw: pd.DataFrame, params: dict, units: dict[str, str] | None = None) -> pd.DataFrame:
    """All analytic columns from the harmonized raw frame (flags are added by `flags`).
    `units`: the published unit of variables that need converting (default: the catalog's)."""
    units = load_catalog().units() if units is None else units
    n_cycles = raw["cycle"].nunique()
    supp_cap = float(params["vitd_supp_cap_ug"])
    detection_limits = params["detection_limits"]
    out = pd.DataFrame(index=raw.index)
    out["seqn"] = raw["SEQN"].astype("int64")
    out["cycle"] = raw["cycle"].astype("string")
    out["sdmvstra"] = raw["SDMVSTRA"].astype("int64")
    out["sdmvpsu"] = raw["SDMVPSU"].astype("int64")
    out["examined"] = (raw["RIDSTATR"] == 2)
    for name, variable in TWO_YEAR_WEIGHTS.items():
        out[f"{name}_2yr"] = pooled_weight(raw[variable], 1)  # kept, so a subset of cycles re-pools exactly
        out[name] = pooled_weight(raw[variable], n_cycles)

    out["age"] = raw["RIDAGEYR"]
    out["sex"] = categorize(raw["RIAGENDR"], SEX)
    out["race_eth"] = categorize(raw["RIDRETH1"], RACE_ETH)
    out["education"] = categorize(raw["DMDEDUC2"], EDUCATION)
    out["pir"] = raw["INDFMPIR"]
    out["smoking"] = smoking_status(raw["SMQ020"], raw["SMQ040"])
    out["season"] = categorize(raw["RIDEXMON"], SEASON)
    out["pregnant"] = (raw["RIDEXPRG"] == 1)
    out["bmi"] = raw["BMXBMI"]

    out["vitd_serum_nmol"] = raw["LBXVIDMS"]
    out["vitd_serum_ria_nmol"] = in_unit(raw["LBXVIDRIA"], units["LBXVIDRIA"], "nmol/L")
    out["pth_pg_ml"] = in_unit(raw["LBXPT21"], units["LBXPT21"], "pg/mL")
    out["physical_activity"] = physical_activity(raw["PAD200"], raw["PAD320"])
    out["recall_day1_reliable"] = (raw["DR1DRSTZ"] == 1)
    out["recall_day2_reliable"] = (raw["DR2DRSTZ"] == 1)
    food_day1 = raw["DR1DRSTZ"] == 1  # nutrient totals count only from a reliable recall
    out["kcal"] = raw["DR1TKCAL"].where(food_day1)
    out["mg_food_mg"] = raw["DR1TMAGN"].where(food_day1)
    out["vitd_food_ug"] = raw["DR1TVD"].where(food_day1)
    out["ca_food_mg"] = raw["DR1TCALC"].where(food_day1)
    out["recall_day1_weekend"] = weekend_recall(raw["DR1DAY"])
    out["recall_day2_weekend"] = weekend_recall(raw["DR2DAY"])
    food_day2 = raw["DR2DRSTZ"] == 1
    out["kcal_day2"] = raw["DR2TKCAL"].where(food_day2)
    out["mg_food_day2_mg"] = raw["DR2TMAGN"].where(food_day2)
    out["ca_food_day2_mg"] = raw["DR2TCALC"].where(food_day2)
    out["vitd_food_day2_ug"] = raw["DR2TVD"].where(food_day2)

    out["supp_count_day1"] = raw["DS1DSCNT"]
    out["mg_supp_mg"] = supplement_amount(raw["DS1DSCNT"], raw["DS1TMAGN"])
    out["vitd_supp_ug"] = supplement_amount(raw["DS1DSCNT"], raw["DS1TVD"])
    out["vitd_supp_ug_capped"] = out["vitd_supp_ug"].clip(upper=supp_cap)
    out["vitd_supp_user"] = (out["vitd_supp_ug"] > 0).astype("boolean").mask(out["vitd_supp_ug"].isna())
    out["mg_supp_user"] = (out["mg_supp_mg"] > 0).astype("boolean").mask(out["mg_supp_mg"].isna())
    ca_supp = supplement_amount(raw["DS1DSCNT"], raw["DS1TCALC"])

    out["mg_total_mg"] = out["mg_food_mg"] + out["mg_supp_mg"]
    out["vitd_total_ug"] = out["vitd_food_ug"] + out["vitd_supp_ug"]
    out["ca_total_mg"] = out["ca_food_mg"] + ca_supp
    out["ca_mg_ratio"] = ratio(out["ca_total_mg"], out["mg_total_mg"])
    out["mg_ear_mg"] = mg_ear(out["age"], out["sex"], params["mg_ear_mg"])
    out["mg_adequate"] = at_least(out["mg_total_mg"], out["mg_ear_mg"])
    out["mg_food_adequate"] = at_least(out["mg_food_mg"], out["mg_ear_mg"])

    day2_total = raw["DR2TMAGN"] + supplement_amount(raw["DS2DSCNT"], raw["DS2TMAGN"])
    out["mg_total_2day_mg"] = two_day_mean(out["mg_total_mg"], day2_total,
                                           out["recall_day1_reliable"], out["recall_day2_reliable"])
    out["mg_food_2day_mg"] = two_day_mean(out["mg_food_mg"], raw["DR2TMAGN"],
                                          out["recall_day1_reliable"], out["recall_day2_reliable"])

    out["vitd_supp_30d_ug"] = supplement_amount(raw["DSDCOUNT"], raw["DSQTVD"])
    out["mg_supp_30d_mg"] = supplement_amount(raw["DSDCOUNT"], raw["DSQTMAGN"])
    out["ca_supp_30d_mg"] = supplement_amount(raw["DSDCOUNT"], raw["DSQTCALC"])
    out["mg_total_30d_mg"] = out["mg_food_mg"] + out["mg_supp_30d_mg"]
    out["ca_total_30d_mg"] = out["ca_food_mg"] + out["ca_supp_30d_mg"]
    for column, thirty_day, day1, day2 in [("mg_supp_usual_mg", "DSQTMAGN", "DS1TMAGN", "DS2TMAGN"),
                                            ("ca_supp_usual_mg", "DSQTCALC", "DS1TCALC", "DS2TCALC"),
                                            ("vitd_supp_usual_ug", "DSQTVD", "DS1TVD", "DS2TVD")]:
        out[column] = usual_supplement(supplement_amount(raw["DSDCOUNT"], raw[thirty_day]),
                                       supplement_amount(raw["DS1DSCNT"], raw[day1]),
                                       supplement_amount(raw["DS2DSCNT"], raw[day2]))
    out["supp_usual_source"] = usual_supplement_source(raw["DSDCOUNT"], raw["DS1DSCNT"], raw["DS2DSCNT"])

    out["supp_any_30d"] = yes_no(raw["DSD010"])

    out["femneck_bmd"] = complete_scan(raw["DXXNKBMD"], raw["DXAFMRST"])
    out["femneck_t_score"] = t_score(out["femneck_bmd"], params["femneck_reference_mean"], params["femneck_reference_sd"])
    out["osteoporosis_dxa"] = at_least(-out["femneck_bmd"], -osteoporosis_bmd_cutoff(params))
    out["osteoporosis_told"] = (raw["OSQ060"] == 1).astype("boolean").mask(raw["OSQ060"].isna())

    out["aac24_score"] = valid_aac_score(raw["DXXAAC24"], raw["DXXAACTV"])
    out["aac8_score"] = valid_aac_score(raw["DXXAAC8"], raw["DXXAACTV"])
    out["crp_mg_l"] = crp_mg_per_l(raw["LBXCRP"], units["LBXCRP"], raw["LBXHSCRP"], units["LBXHSCRP"])
    out["crp_below_detection"] = below_detection(raw["LBDHRPLC"], raw["LBXCRP"], detection_limits["LBXCRP"])

    mortality = params["mortality"]
    out["mort_linked"] = linked(raw["ELIGSTAT"])
    out["died"] = died_of(raw["MORTSTAT"], raw["UCOD_LEADING"], out["mort_linked"])
    out["died_cvd"] = died_of(raw["MORTSTAT"], raw["UCOD_LEADING"], out["mort_linked"], mortality["cvd_causes"])
    out["died_heart"] = died_of(raw["MORTSTAT"], raw["UCOD_LEADING"], out["mort_linked"], mortality["heart_causes"])
    out["death_cause"] = raw["UCOD_LEADING"].where(out["died"].fillna(False).astype(bool)).astype("Int64")
    out["followup_exam_months"] = raw["PERMTH_EXM"].where(out["mort_linked"].fillna(False).astype(bool))
    out["followup_int_months"] = raw["PERMTH_INT"].where(out["mort_linked"].fillna(False).astype(bool))
    return out

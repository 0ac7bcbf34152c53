"""Analysis-time columns: outcome flags, dose units, intake groups. Pure functions of the
analytic table and params; every rule is stated in its docstring and in the output tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.core.quantile_rule import weighted_quantiles


def weighted_quantile_cuts(values: pd.Series, weights: pd.Series, probs: list[float]) -> list[float]:
    """Cut points: the package's weighted-quantile rule (analysis/core/quantile_rule.py) at each prob."""
    return [float(v) for v in weighted_quantiles(values.to_numpy(), weights.to_numpy(), probs)]


def flag(condition: pd.Series, known: pd.Series) -> pd.Series:
    """A nullable boolean: missing where the inputs are unknown."""
    return condition.astype("boolean").mask(~known)


def high_ratio(numerator: pd.Series, denominator: pd.Series, limit: float) -> pd.Series:
    """numerator / denominator > limit, compared as numerator > limit x denominator, so a day
    with no magnesium but some calcium counts as a high ratio (the ratio is infinite); missing
    where either amount is unknown or both are 0 (0/0 has no ratio: data rule zero_ca_and_mg)."""
    known = numerator.notna() & denominator.notna() & ((numerator > 0) | (denominator > 0))
    return flag(numerator > limit * denominator, known)


def add(frame: pd.DataFrame, params: dict) -> pd.DataFrame:
    """Columns every analysis may use (documented in the output tables' model names)."""
    p = params["analyze"]
    out = frame.copy()
    vitd = out["vitd_serum_nmol"]
    for cut in p["vitd_cutoffs_nmol"]:
        out[f"vitd_below_{cut}"] = flag(vitd < cut, vitd.notna())
    out["vitd_30_to_49"] = flag((vitd >= 30) & (vitd < 50), vitd.notna())
    out["vitd_log"] = np.log(vitd)
    out["dose10"] = out["vitd_supp_ug_capped"] / p["dose_unit_ug"]
    out["mg_total_100"] = out["mg_total_mg"] / p["mg_unit_mg"]
    out["mg_supp_100"] = out["mg_supp_mg"] / p["mg_unit_mg"]
    out["mg_inadequate"] = flag(~out["mg_adequate"].fillna(False).astype(bool), out["mg_adequate"].notna())
    out["mg_food_inadequate"] = flag(~out["mg_food_adequate"].fillna(False).astype(bool), out["mg_food_adequate"].notna())
    out["mg_below_half_ear"] = flag(out["mg_total_mg"] < out["mg_ear_mg"] / 2, out["mg_total_mg"].notna())
    out["vitd_adequate_intake"] = flag(out["vitd_total_ug"] >= p["vitd_ear_ug"], out["vitd_total_ug"].notna())
    out["high_ca_mg_ratio"] = high_ratio(out["ca_total_mg"], out["mg_total_mg"], p["high_ca_mg_ratio"])
    both = out["mg_adequate"].fillna(False).astype(bool) & out["vitd_adequate_intake"].fillna(False).astype(bool)
    neither = ~out["mg_adequate"].fillna(True).astype(bool) & ~out["vitd_adequate_intake"].fillna(True).astype(bool)
    joint = pd.Series("one", index=out.index, dtype="string")
    joint[both] = "both"
    joint[neither] = "neither"
    joint[out["mg_adequate"].isna() | out["vitd_adequate_intake"].isna()] = pd.NA
    out["intake_adequacy"] = joint
    out["age_group"] = pd.Series(pd.NA, index=out.index, dtype="string")
    for label, low, high in p["age_groups"]:
        out.loc[(out["age"] >= low) & (out["age"] <= high), "age_group"] = label
    out["vitd_supp_user_30d"] = flag(out["vitd_supp_30d_ug"] > 0, out["vitd_supp_30d_ug"].notna())
    out["dose_band"] = pd.Series(pd.NA, index=out.index, dtype="string")
    for (low, high), label in zip(p["dose_bands_ug"], p["dose_band_labels"]):
        out.loc[(out["vitd_supp_ug"] >= low) & (out["vitd_supp_ug"] < high), "dose_band"] = label
    efsa_mg = out["sex"].map(p["efsa_mg_mg"]).astype(float)
    out["meets_article_mg"] = flag(out["mg_total_mg"] >= p["article_mg_mg"], out["mg_total_mg"].notna())
    out["meets_article_vitd"] = flag(out["vitd_total_ug"] >= p["article_vitd_ug"], out["vitd_total_ug"].notna())
    out["meets_efsa_mg"] = flag(out["mg_total_mg"] >= efsa_mg, out["mg_total_mg"].notna() & efsa_mg.notna())
    out["meets_efsa_vitd"] = flag(out["vitd_total_ug"] >= p["efsa_vitd_ug"], out["vitd_total_ug"].notna())
    out["mg_total_2day_inadequate"] = flag(out["mg_total_2day_mg"] < out["mg_ear_mg"], out["mg_total_2day_mg"].notna())
    out["mg_food_2day_inadequate"] = flag(out["mg_food_2day_mg"] < out["mg_ear_mg"], out["mg_food_2day_mg"].notna())
    out["mg_2day_adequate"] = flag(out["mg_total_2day_mg"] >= out["mg_ear_mg"], out["mg_total_2day_mg"].notna())
    out["in_two_day"] = out["in_main"] & out["mg_total_2day_mg"].notna() & (out["wt_day2"] > 0)
    out["all_weight_1"] = 1.0
    aac = out["aac24_score"]
    out["aac_severe"] = flag(aac > p["aac_severe_above"], aac.notna())
    out["aac_any"] = flag(aac > 0, aac.notna())
    crp = out["crp_mg_l"]
    out["crp_log"] = np.log(crp.where(crp > 0))
    out["crp_elevated"] = flag(crp > p["crp_elevated_above_mg_l"], crp.notna())
    out["vitd_serum_per25"] = vitd / p["crp_vitd_unit_nmol"]
    return out

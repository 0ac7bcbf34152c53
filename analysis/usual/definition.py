"""What each usual-intake model is fitted on: its persons (domain), nutrients and covariates.

Two models: the *distribution* model (magnesium; covariates = the reported groups) and the
*calibration* model (energy, magnesium, calcium, vitamin D jointly; covariates = every
covariate of the outcome models and the supplement exposures). The usual stage fits both;
the analyses rebuild the calibration model's arrays from the same definition
(analysis/usual/intake_model.py), so the two can never disagree.
"""

from __future__ import annotations

import pandas as pd

from analysis.usual.model import Nutrient, RecallData, recall_data

DISTRIBUTION_NUTRIENT = "mg"


def nutrients(params: dict) -> list[Nutrient]:
    return [Nutrient(name, day1, day2) for name, (day1, day2) in params["usual_intake"]["nutrients"].items()]


def references(frame: pd.DataFrame, params: dict) -> dict[str, str]:
    refs = dict(params["model"]["reference_levels"])
    refs["cycle"] = sorted(frame["cycle"].dropna().unique())[0]
    refs["age_group"] = params["analyze"]["age_groups"][0][0]
    return refs


def split_covariates(frame: pd.DataFrame, columns: list[str], refs: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """Numeric (and boolean) columns, and categorical ones with their reference level."""
    numeric = [c for c in columns if not pd.api.types.is_string_dtype(frame[c])]
    categorical = {c: refs[c] for c in columns if pd.api.types.is_string_dtype(frame[c])}
    return numeric, categorical


def calibration_covariates(frame: pd.DataFrame, params: dict) -> list[str]:
    covariates = [c for c in params["model"]["covariates"] if not (c == "cycle" and frame["cycle"].nunique() < 2)]
    return covariates + list(params["usual_intake"]["calibration_exposures"])


def domains(frame: pd.DataFrame, params: dict) -> dict[str, pd.Series]:
    """Who each model is fitted on: adults with a reliable day-1 recall (and the columns it needs)."""
    p = params["usual_intake"]
    diet = frame["in_adults"] & frame["recall_day1_reliable"] & (frame["wt_day1"] > 0)
    day1 = [day1 for day1, _ in p["nutrients"].values()]
    dist_columns = [p["nutrients"][DISTRIBUTION_NUTRIENT][0], "mg_supp_usual_mg", "mg_ear_mg"] + list(p["distribution_groups"])
    calib_columns = day1 + ["mg_supp_usual_mg", "ca_supp_usual_mg", "vitd_supp_usual_ug", "mg_ear_mg"] + \
        calibration_covariates(frame, params)
    return {"distribution": diet & frame[dist_columns].notna().all(axis=1),
            "calibration": diet & frame[calib_columns].notna().all(axis=1)}


def model_data(frame: pd.DataFrame, params: dict, which: str) -> RecallData:
    """The recall arrays of one model for the rows of `frame` (already restricted to its domain)."""
    refs = references(frame, params)
    if which == "distribution":
        nut = [n for n in nutrients(params) if n.name == DISTRIBUTION_NUTRIENT]
        numeric, categorical = split_covariates(frame, list(params["usual_intake"]["distribution_groups"]), refs)
    else:
        nut = nutrients(params)
        numeric, categorical = split_covariates(frame, calibration_covariates(frame, params), refs)
    return recall_data(frame, nut, numeric, categorical)

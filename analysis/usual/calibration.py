"""Regression-calibration columns: what the outcome models use in place of one day's intake.

Each column is a conditional expectation given everything the calibration model conditions
on (all recalls, the outcome models' covariates, the supplement exposures): for an adequacy
flag, the probability of adequacy; for a product of two flags, the probability of both; for
a covariate such as energy, its expected usual value. Plugged into a linear model this is
regression calibration, consistent when the calibration model holds (Carroll et al.,
Measurement Error in Nonlinear Models, ch. 4); for logistic models it is the usual
approximation. The same function serves the full sample and every replicate.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from analysis.usual.individual import Individuals

# Per-person columns and what each is (written to data_clean/usual_intake.parquet).
COLUMNS = {
    "mg_food_usual_mg": "E[usual magnesium from foods]",
    "mg_total_usual_mg": "E[usual magnesium from foods and supplements]",
    "mg_adequate_usual": "P(usual total magnesium >= EAR)",
    "kcal_usual": "E[usual energy intake]",
    "ca_total_usual_mg": "E[usual calcium from foods and supplements]",
    "vitd_total_usual_ug": "E[usual vitamin D from foods and supplements]",
    "vitd_adequate_usual": "P(usual total vitamin D >= its EAR)",
    "mg_vitd_adequate_usual": "P(usual total magnesium and vitamin D both >= their EARs)",
    "high_ca_mg_ratio_usual": "P(usual total calcium > ratio x usual total magnesium)",
    "high_ca_mg_ratio_mg_adequate_usual": "P(high usual Ca:Mg ratio and usual magnesium >= EAR)",
}


# The nutrients of the measurement-error model each column needs: a model without food vitamin D
# (NHANES before 2007-2008) gives no vitamin D column.
NEEDS = {"mg_food_usual_mg": ("mg",), "mg_total_usual_mg": ("mg",), "mg_adequate_usual": ("mg",), "kcal_usual": ("kcal",),
         "ca_total_usual_mg": ("ca",), "vitd_total_usual_ug": ("vitd",), "vitd_adequate_usual": ("vitd",),
         "mg_vitd_adequate_usual": ("mg", "vitd"), "high_ca_mg_ratio_usual": ("ca", "mg"),
         "high_ca_mg_ratio_mg_adequate_usual": ("ca", "mg")}


def available(nutrients) -> set[str]:
    """The columns a model of these nutrients gives."""
    return {name for name, needs in NEEDS.items() if set(needs) <= set(nutrients)}


def columns(ind: Individuals, frame: pd.DataFrame, vitd_ear_ug: float, high_ratio: float,
            joint_rows: np.ndarray | None = None, ratio_rows: np.ndarray | None = None,
            wanted: set[str] | None = None) -> dict[str, np.ndarray]:
    """The calibration columns for the persons of `ind` (rows of `frame`, same order): those in
    `wanted` (None: all of COLUMNS), so that a replicate computes only what its models use.

    `joint_rows` and `ratio_rows` limit the slower integrals (the joint probability of
    magnesium and vitamin D adequacy; the Ca:Mg ratio probabilities) to the rows that need
    them; elsewhere they are NaN. None: every row.
    """
    unknown = set(wanted or ()) - set(COLUMNS)
    if unknown:
        raise KeyError(f"calibration columns {sorted(unknown)}: not among {list(COLUMNS)}")
    possible = available(ind.params.nutrients)
    lacking = set(wanted or ()) - possible
    if lacking:
        raise KeyError(f"calibration columns {sorted(lacking)} need nutrients the model lacks (it has {list(ind.params.nutrients)})")
    ear = frame["mg_ear_mg"].to_numpy(dtype=float)
    supp_mg = frame["mg_supp_usual_mg"].to_numpy(dtype=float)
    supp_ca = frame["ca_supp_usual_mg"].to_numpy(dtype=float)
    supp_vd = frame["vitd_supp_usual_ug"].to_numpy(dtype=float)
    vd_ear = np.full(len(frame), float(vitd_ear_ug))

    @cache
    def mg_food() -> np.ndarray:  # two columns share it
        return ind.expected_usual("mg")

    def on(rows: np.ndarray | None, compute) -> np.ndarray:
        rows = np.ones(len(frame), bool) if rows is None else rows
        values = np.full(len(frame), np.nan)
        if rows.any():
            values[rows] = compute(ind.subset(rows), rows)
        return values

    compute = {
        "mg_food_usual_mg": mg_food,
        "mg_total_usual_mg": lambda: mg_food() + supp_mg,
        "mg_adequate_usual": lambda: ind.prob_at_least("mg", ear, supp_mg),
        "kcal_usual": lambda: ind.expected_usual("kcal"),
        "ca_total_usual_mg": lambda: ind.expected_usual("ca") + supp_ca,
        "vitd_total_usual_ug": lambda: ind.expected_usual("vitd") + supp_vd,
        "vitd_adequate_usual": lambda: ind.prob_at_least("vitd", vd_ear, supp_vd),
        "high_ca_mg_ratio_usual": lambda: on(ratio_rows, lambda sub, r: sub.prob_ratio_above(
            "ca", supp_ca[r], "mg", supp_mg[r], high_ratio)),
        "high_ca_mg_ratio_mg_adequate_usual": lambda: on(ratio_rows, lambda sub, r: sub.prob_ratio_above(
            "ca", supp_ca[r], "mg", supp_mg[r], high_ratio, denominator_at_least=ear[r])),
        "mg_vitd_adequate_usual": lambda: on(joint_rows, lambda sub, r: sub.prob_both_at_least(
            "mg", ear[r], supp_mg[r], "vitd", vd_ear[r], supp_vd[r])),
    }
    return {name: compute[name]() for name in COLUMNS if name in possible and (wanted is None or name in wanted)}

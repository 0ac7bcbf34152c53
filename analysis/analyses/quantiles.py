"""C1b, the cited trial's own question (Dai et al., AJCN 2018: magnesium raised 25(OH)D in
people low in it and lowered it in people high in it). The cross-sectional echo: is the
magnesium-25(OH)D association different across the 25(OH)D distribution?

Design-based percentiles of 25(OH)D among adults whose usual magnesium intake is adequate and
among those whose is not, for all adults and by vitamin D supplement use, and their
differences. Adequacy is usual, so group membership is a probability: each person counts in
the adequate distribution with weight w P(adequate) and in the inadequate one with
w (1 - P) (the distributions' regression-calibration analogue). Nobody is grouped by the
outcome. A percentile is the smallest value whose weighted share reaches p (R svyquantile's
default "math" rule). Variance: Rao-Wu bootstrap replicates built from the design, the
usual-intake model refitted on each (the jackknife is inconsistent for quantiles).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.survey import replicates as engine
from analysis.analyses.common import Context, Result, evidence_of
from analysis.core.errors import DataError
from analysis.core.quantile_rule import weighted_quantiles
from analysis.usual.intake_model import UsualIntakeModel

DOMAIN = "in_main"
WEIGHT = "wt_day1"
OUTCOME = "vitd_serum_nmol"
COLUMNS = ["model", "term", "group", "percentile", "estimate", "std_error", "ci_low", "ci_high", "df", "n",
           "scale", "domain", "weight", "variance", "note"]


def estimates(y: np.ndarray, w: np.ndarray, p_adequate: np.ndarray, groups: dict[str, np.ndarray],
              probs: np.ndarray) -> dict[tuple[str, str, float], float]:
    """(term, group, percentile) -> value: the adequate and inadequate percentiles, their
    difference, and the difference at the lowest minus at the highest percentile."""
    out = {}
    for group, members in groups.items():
        adequate = weighted_quantiles(y[members], (w * p_adequate)[members], probs)
        inadequate = weighted_quantiles(y[members], (w * (1 - p_adequate))[members], probs)
        for prob, a, i in zip(probs, adequate, inadequate):
            out[("adequate", group, prob)] = a
            out[("inadequate", group, prob)] = i
            out[("difference", group, prob)] = a - i
        out[("low_minus_high", group, probs[0])] = (adequate[0] - inadequate[0]) - (adequate[-1] - inadequate[-1])
    return out


def run(ctx: Context, usual_model_path: Path) -> Result:
    usual = UsualIntakeModel.load(usual_model_path, ctx.frame, ctx.params)
    if not usual.bootstrap:
        raise DataError(f"{usual_model_path}: no bootstrap replicates of the usual-intake model; rerun the usual stage")
    boot = engine.bootstrap(ctx.frame, ctx.params)
    if boot is None or boot.factors.shape[1] != usual.bootstrap["n"]:
        raise DataError(f"{usual_model_path}: {usual.bootstrap['n']} bootstrap replicates stored, "
                        f"params ask for {0 if boot is None else boot.factors.shape[1]}; rerun the usual stage")
    probs = np.array(ctx.params["analyze"]["c1b_percentiles"], dtype=float) / 100
    inside = ctx.frame[DOMAIN].to_numpy()
    rows = np.flatnonzero(usual.rows)
    in_domain = inside[rows]  # calibration-domain persons who are in the main domain
    frame = usual.frame[in_domain]
    y = frame[OUTCOME].to_numpy(dtype=float)
    w = frame[WEIGHT].to_numpy(dtype=float)
    users = frame["vitd_supp_user"].astype(bool).to_numpy()
    groups = {"all": np.ones(len(frame), bool), "vitd_supp_user=True": users, "vitd_supp_user=False": ~users}

    def adequacy(kind: str, r: int | None) -> np.ndarray:
        return usual.adequacy(r, kind)[in_domain]

    full = estimates(y, w, adequacy("bootstrap", None), groups, probs)
    factors = boot.factors[rows][in_domain]
    reps = engine.each(lambda r: estimates(y, w * factors[:, r], adequacy("bootstrap", r), groups, probs), boot,
                       "analyze: C1b percentiles on bootstrap replicates")
    keys = list(full)
    value = np.array([full[k] for k in keys])
    se = boot.standard_error(value, np.array([[rep[k] for k in keys] for rep in reps]))
    low, high = boot.confidence_interval(value, se)
    table = pd.DataFrame({"model": "vitd_percentiles_by_mg_adequacy_usual", "term": [k[0] for k in keys],
                          "group": [k[1] for k in keys], "percentile": [round(100 * k[2]) for k in keys],
                          "estimate": value, "std_error": se, "ci_low": low, "ci_high": high, "df": boot.df,
                          "n": [int(groups[k[1]].sum()) for k in keys], "scale": "nmol/L", "domain": DOMAIN,
                          "weight": WEIGHT + " x P(usual magnesium adequate) or x (1 - P)",
                          "variance": f"bootstrap (Rao-Wu, {boot.factors.shape[1]} replicates, usual-intake model refitted)",
                          "note": "low_minus_high: difference at the lowest minus at the highest percentile"},
                         columns=COLUMNS)
    evidence = evidence_of(table[(table["term"] == "low_minus_high") & (table["group"] == "all")]
                           .assign(p_value=np.nan), "difference at p10 minus at p90 (nmol/L)")
    return Result(tables={"vitd_percentiles": table}, evidence=[evidence],
                  test_label=f"25(OH)D percentiles, usual magnesium adequate minus inadequate: difference at the "
                             f"{round(100 * probs[0])}th minus at the {round(100 * probs[-1])}th percentile (nmol/L)")

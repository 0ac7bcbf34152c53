"""The one weighted-quantile rule of the package: the smallest value whose weighted cumulative
share reaches p (R svyquantile's qrule "math", the rule svy's quantiles use too). A share within
1e-12 below p counts as reaching it, so that rounding in the running sum cannot move a quantile
to the next value."""

from __future__ import annotations

import numpy as np

TOLERANCE = 1e-12


def weighted_quantiles(values, weights, probs, presorted: bool = False) -> np.ndarray:
    """The rule at each of `probs` (0-1); `presorted`: `values` ascending already, `weights` in
    the same order (a zero weight leaves its value out)."""
    values, weights = np.asarray(values, dtype=float), np.asarray(weights, dtype=float)
    if not presorted:
        order = np.argsort(values, kind="stable")
        values, weights = values[order], weights[order]
    share = np.cumsum(weights) / weights.sum()
    index = np.searchsorted(share, np.asarray(probs, dtype=float) - TOLERANCE, side="left")
    return values[np.minimum(index, len(values) - 1)]

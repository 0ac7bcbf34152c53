"""The one rule for confidence intervals and p-values: t on the design's degrees of freedom, on
the estimate's scale or, for a share, on the logit scale and back (R svyciprop method "logit").
Every CI and p-value the package reports that svy does not compute itself comes from here.

scipy.stats is imported on first use: it takes about a second, and the commands answer an
argument error before needing it."""

from __future__ import annotations

import numpy as np


def t_critical(df, alpha: float = 0.05):
    """The two-sided (1 - alpha) quantile of t on `df` degrees of freedom."""
    from scipy import stats

    return stats.t.ppf(1 - alpha / 2, df)


def interval(estimate, se, df, alpha: float = 0.05, scale: str = "identity"):
    """(low, high): estimate ± t·se; scale "logit": the share's interval on the logit scale, mapped back;
    scale "log": a positive total's interval on the log scale, estimate·exp(±t·se/estimate), which
    stays positive (as NCHS computes intervals for counts)."""
    t_crit = t_critical(df, alpha)
    if scale == "log":
        half = t_crit * se / estimate
        return np.exp(np.log(estimate) - half), np.exp(np.log(estimate) + half)
    if scale == "logit":
        from scipy import special

        half = t_crit * se / (estimate * (1 - estimate))
        return special.expit(special.logit(estimate) - half), special.expit(special.logit(estimate) + half)
    return estimate - t_crit * se, estimate + t_crit * se


def p_value(statistic, df):
    """Two-sided p-value of a t statistic on `df` degrees of freedom; NaN where the statistic is."""
    from scipy import stats

    finite = np.isfinite(statistic)
    value = np.where(finite, 2 * stats.t.sf(np.abs(np.where(finite, statistic, 0.0)), df), np.nan)
    return float(value) if np.ndim(value) == 0 else value

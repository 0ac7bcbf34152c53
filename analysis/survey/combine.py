"""Estimates built from other estimates: Rubin's rules across multiply imputed data sets, and
the delta method for a smooth function of a model's coefficients. Both belong to the survey
layer so every analysis combines estimates the same way (mitools::MIcombine and
survey::svycontrast do these jobs in R)."""

from __future__ import annotations

import numpy as np


def rubin(estimates: np.ndarray, variances: np.ndarray, df_complete: float) -> dict[str, np.ndarray]:
    """Rubin's rules for m estimates (rows) of each coefficient, as mitools::MIcombine: the mean,
    total variance W + (1 + 1/m) B, Barnard-Rubin df (observed-data df from the complete-data
    df and W / (W + B)), and the fraction of missing information (r + 2 / (df + 3)) / (r + 1)."""
    m = estimates.shape[0]
    mean = estimates.mean(axis=0)
    within = variances.mean(axis=0)
    between = estimates.var(axis=0, ddof=1)
    r = (1 + 1 / m) * between / within
    with np.errstate(divide="ignore"):
        df = (m - 1) * (1 + 1 / r) ** 2
    if np.isfinite(df_complete):
        observed = (df_complete + 1) / (df_complete + 3) * df_complete * within / (within + between)
        df = 1 / (1 / observed + 1 / df)
    return {"estimate": mean, "variance": within + between * (m + 1) / m, "df": df,
            "missing_information": (r + 2 / (df + 3)) / (r + 1)}


def delta_method_se(gradient: np.ndarray, vcov: np.ndarray) -> float:
    """SE of g(beta) from its gradient at the estimate and V(beta): sqrt(grad' V grad)."""
    return float(np.sqrt(gradient @ vcov @ gradient))

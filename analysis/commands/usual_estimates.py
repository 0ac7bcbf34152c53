"""Means and totals of the usual-intake model's per-person columns (`estimate mean
mg_adequate_usual`) with the variance of both steps: on every replicate of the design the
measurement-error model is refitted (data_clean/usual_model.json), the column recomputed and the
mean or total taken with the replicate's weights (analyses/calibrated.py, as `model` and the
pipeline's analyses do). A Taylor SE would treat the column as measured and miss the first step.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.core.config import Paths
from analysis.core.errors import DataError
from analysis.survey.intervals import interval

GROUP = "_group"


def replicate_table(frame: pd.DataFrame, params: dict, paths: Paths, statistic: str, column: str, label: str,
                    by: list[str]) -> tuple[pd.DataFrame, str]:
    """(the estimate table, the variance's description) for `statistic` (mean or total) of `column`
    in frame["_domain"] with weights frame["_weight"], per group of frame[GROUP] when `by`."""
    from analysis.analyses import calibrated
    from analysis.analyses.common import Context
    from analysis.commands.estimate import COLUMNS, row
    from analysis.usual import calibration

    model_path = paths.data_clean / "usual_model.json"
    if not model_path.exists():
        raise DataError(f"{model_path}: not found; {column} needs the usual stage (`dvc repro usual`)")
    domain = frame["_domain"].to_numpy(dtype=bool)
    weight = frame["_weight"].to_numpy(dtype=float)
    if by:
        names = sorted(frame.loc[frame["_domain"], GROUP].dropna().unique())
        members = [domain & (frame[GROUP] == g).fillna(False).to_numpy(dtype=bool) for g in names]
    else:
        names, members = ["all"], [domain]

    def compute(columns: dict[str, np.ndarray], factor: np.ndarray) -> np.ndarray:
        y, w = columns[column], weight * factor
        totals = np.array([np.sum(w[m] * y[m]) for m in members])
        return totals if statistic == "total" else totals / np.array([np.sum(w[m]) for m in members])

    probability = column in calibration.COLUMNS and calibration.COLUMNS[column].startswith("P(") and statistic == "mean"

    def tidy(estimates: np.ndarray, se: np.ndarray, df: float) -> pd.DataFrame:
        rows = []
        for name, m, est, s in zip(names, members, estimates, se):
            # the mean probability is a share: a logit CI, as for proportions
            scale = "logit" if probability and 0 < est < 1 else "log" if statistic == "total" and est > 0 else "identity"
            low, high = interval(est, s, df, scale=scale)
            result = {"estimate": est, "std_error": s, "ci_low": low, "ci_high": high, "df": df, "n": int(m.sum())}
            rows.append(row(name, f"{statistic} of {label}", result, statistic))
        return pd.DataFrame(rows, columns=COLUMNS)

    statistic_spec = calibrated.CalibratedStatistic("estimate", compute, tidy, needs=(column,))
    ctx = Context(frame, params)
    table = calibrated.run(ctx, [], model_path, [statistic_spec]).tables["estimate"]
    variance = (f"{params['usual_intake']['replicates']} replicates, each rerunning the usual-intake model and this "
                f"{statistic} ({column} is a prediction of that model); "
                + ("logit CI (the mean of a probability is a share)" if probability
                   else "CI on the log scale (a total stays positive)" if statistic == "total" else "t-based CI")
                + ", design df")
    return table, variance

"""The replicate engine: every estimate whose variance comes from replicate weights is computed
here, the same way.

A two-step estimate (usual intake, then an outcome model or a distribution) reruns every step
on every replicate of the design. The engine builds the replicate factors from params (the
design's jackknife or Fay-BRR, `usual_intake.replicates`; the Rao-Wu bootstrap for quantiles,
where the jackknife is inconsistent), runs a function of the replicate index on every replicate
in forked workers (analysis/core/parallel.py), in order, and gives the replicate-weight SEs centred
on the full-sample estimate (R survey's mse = TRUE; NCI's). The usual stage's refits, the
calibrated analyses, the usual-intake distribution and the C1b quantiles all go through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, TypeVar

import numpy as np
import pandas as pd

from analysis.core import parallel
from analysis.core.parallel import Pending
from analysis.survey.design import Replicates, replicate_factors

T = TypeVar("T")


def design(frame: pd.DataFrame, params: dict) -> Replicates:
    """The design's replicates (params usual_intake.replicates: jackknife or brr) for every row of `frame`."""
    p = params["usual_intake"]
    return replicate_factors(frame, p["replicates"], p["fay_coef"])


def bootstrap(frame: pd.DataFrame, params: dict) -> Replicates | None:
    """Rao-Wu bootstrap replicates (params usual_intake.bootstrap_replicates, bootstrap_seed); None when 0."""
    p = params["usual_intake"]
    if not p["bootstrap_replicates"]:
        return None
    return replicate_factors(frame, "bootstrap", n_reps=p["bootstrap_replicates"], seed=p["bootstrap_seed"])


def each(func: Callable[[int], T], replicates: Replicates | int, desc: str) -> list[T]:
    """[func(r) for every replicate r], in forked workers, in order (func must not use svy)."""
    return start(func, replicates, desc).result()


def start(func: Callable[[int], T], replicates: Replicates | int, desc: str) -> Pending[T]:
    """`each`, started: the caller goes on with other work (e.g. svy fits) while the workers
    compute, and takes the results with `.result()`."""
    n = replicates if isinstance(replicates, int) else replicates.factors.shape[1]
    return parallel.start_ordered(func, range(n), desc)


@dataclass(frozen=True)
class ReplicateEstimate:
    """A vector estimated on the full sample and on every replicate, with its replicate SEs."""

    full: np.ndarray
    replicates: np.ndarray  # (replicates, len(full))
    std_error: np.ndarray
    df: float
    method: str


def replicate_estimate(statistic: Callable[[int | None], np.ndarray], replicates: Replicates,
                       desc: str) -> ReplicateEstimate:
    """statistic(None) on the full sample, statistic(r) on every replicate, and the SEs."""
    full = np.asarray(statistic(None), dtype=float)
    reps = np.array(each(lambda r: np.asarray(statistic(r), dtype=float), replicates, desc))
    return ReplicateEstimate(full, reps, replicates.standard_error(full, reps), replicates.df, replicates.method)

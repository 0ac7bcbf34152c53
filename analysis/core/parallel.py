"""Replicate loops on every core.

A two-step estimate refits its models on each of ~180 replicates, independently. Much of a
refit is small array work that holds Python's GIL, so threads barely overlap: the loops run
in forked worker processes instead (Linux: the workers inherit the parent's arrays without
copying them; only each replicate's small result travels back). BLAS is held to one thread
in every worker, so every replicate's numbers are the same whatever the number of workers.

Work that calls svy (polars, whose thread pool must not be forked) stays out of these loops;
a loop may be started (`start_ordered`) so that the parent does other work meanwhile (the usual
stage's Monte Carlo check, the risk stage's svy models) on the core it would leave idle. The
analyze stage does not: its svy analyses beside the calibrated refits saved 2 s of 50 but raised
the stage's peak memory by about 100 MB.
Where fork is not available (not Linux) the loops run in threads.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Generic, Iterable, TypeVar

from threadpoolctl import threadpool_limits
from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")

_TASK: Callable[[int], object] | None = None  # the job the forked workers run, set just before they fork


def workers() -> int:
    """One worker per core the process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _one_blas_thread() -> None:
    """In each worker: OpenBLAS resets its thread count at fork, so limit it again."""
    threadpool_limits(1)


def _run(index: int):
    return _TASK(index)


class Pending(Generic[R]):
    """Results being computed in forked workers while the caller goes on with other work (e.g.
    the survey layer's fits, which stay in the parent process): `result()` waits for them."""

    def __init__(self, results: Iterable[R] | list[R], progress: dict, pool=None):
        self._results, self._progress, self._pool = results, progress, pool
        self._done: list[R] | None = results if isinstance(results, list) else None

    def result(self) -> list[R]:
        """The results, in order (waiting, with a progress bar, for those not yet back)."""
        if self._done is None:
            try:
                self._done = list(tqdm(self._results, **self._progress))
            finally:
                if self._pool is not None:
                    self._pool.terminate()
                    self._pool = None
        return self._done


def start_ordered(func: Callable[[T], R], items: Iterable[T], desc: str, unit: str = "replicate") -> Pending[R]:
    """[func(item) for item in items] started in forked workers, in order; the caller goes on
    (the parent's own work is unchanged: only the workers hold BLAS to one thread) and takes
    the results with `.result()`. func must not touch polars/svy."""
    items = list(items)
    n = min(workers(), len(items))
    progress = dict(total=len(items), desc=desc, unit=unit, disable=None, leave=False)
    if n <= 1:
        with threadpool_limits(1):
            return Pending([func(item) for item in tqdm(items, **progress)], progress)
    if "fork" not in multiprocessing.get_all_start_methods():
        with threadpool_limits(1), ThreadPoolExecutor(n) as pool:
            return Pending(list(tqdm(pool.map(func, items), **progress)), progress)
    global _TASK
    _TASK = lambda i: func(items[i])  # noqa: E731 (each worker keeps the one it inherited at fork)
    try:
        pool = multiprocessing.get_context("fork").Pool(n, initializer=_one_blas_thread)
    finally:
        _TASK = None
    return Pending(pool.imap(_run, range(len(items))), progress, pool)


def map_ordered(func: Callable[[T], R], items: Iterable[T], desc: str, unit: str = "replicate") -> list[R]:
    """[func(item) for item in items], computed in forked workers, in order, with a progress bar
    (func must not touch polars/svy)."""
    with threadpool_limits(1):
        return start_ordered(func, items, desc, unit).result()

"""Replicate loops on every core.

A two-step estimate refits its models on each of ~180 replicates, independently. Much of a
refit is small array work that holds Python's GIL, so threads barely overlap: the loops run
in forked worker processes instead (Linux: the workers inherit the parent's arrays without
copying them; only each replicate's small result travels back). BLAS is held to one thread
everywhere, so every replicate's numbers are the same whatever the number of workers.

Work that calls svy (polars, whose thread pool must not be forked) stays out of these loops.
Where fork is not available (not Linux) the loops run in threads.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

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


def map_ordered(func: Callable[[T], R], items: Iterable[T], desc: str, unit: str = "replicate") -> list[R]:
    """[func(item) for item in items], computed in forked workers, in order, with a progress bar
    (func must not touch polars/svy)."""
    global _TASK
    items = list(items)
    n = min(workers(), len(items))
    progress = dict(total=len(items), desc=desc, unit=unit, disable=None, leave=False)
    with threadpool_limits(1):
        if n <= 1:
            return [func(item) for item in tqdm(items, **progress)]
        if "fork" not in multiprocessing.get_all_start_methods():
            with ThreadPoolExecutor(n) as pool:
                return list(tqdm(pool.map(func, items), **progress))
        _TASK = lambda i: func(items[i])  # noqa: E731 (inherited by the workers at fork)
        try:
            with multiprocessing.get_context("fork").Pool(n, initializer=_one_blas_thread) as pool:
                return list(tqdm(pool.imap(_run, range(len(items))), **progress))
        finally:
            _TASK = None

"""Replicate loops on every core.

A two-step estimate refits its models on each of ~180 replicates, independently. A thread
pool runs them side by side (numpy and scipy release the GIL in the array work); BLAS is
held to one thread per worker so that the workers do not compete and every replicate's
numbers are the same whatever the number of workers.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

from threadpoolctl import threadpool_limits
from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")


def workers() -> int:
    """One worker per core the process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def map_ordered(func: Callable[[T], R], items: Iterable[T], desc: str) -> list[R]:
    """[func(item) for item in items], computed in parallel, in order, with a progress bar."""
    items = list(items)
    with threadpool_limits(1), ThreadPoolExecutor(workers()) as pool:
        return list(tqdm(pool.map(func, items), total=len(items), desc=desc, unit="replicate", disable=None,
                         leave=False))

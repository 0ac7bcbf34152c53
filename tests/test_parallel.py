"""The replicate loops' worker pool: results in order, errors surfaced, and a started loop that
leaves the caller free to work (the analyze stage fits svy models while the workers refit)."""

import time

import numpy as np
import pytest

from analysis.core import parallel

needs_two_workers = pytest.mark.skipif(parallel.workers() < 2 or not hasattr(parallel.os, "fork"),
                                       reason="needs two cores and fork for the workers to run beside the caller")


def test_map_ordered_keeps_the_order_of_items():
    assert parallel.map_ordered(lambda i: i * i, range(37), "test") == [i * i for i in range(37)]


@needs_two_workers
def test_a_started_loop_runs_while_the_caller_works(tmp_path):
    """Each item waits (up to 20 s) for a file the caller writes only after start_ordered has
    returned: if starting blocked until the results were in, every item would time out."""
    signal = tmp_path / "caller-went-on"

    def item(i: int) -> str:
        deadline = time.monotonic() + 20
        while not signal.exists():
            if time.monotonic() > deadline:
                return "timed out"
            time.sleep(0.01)
        return f"item {i}"

    pending = parallel.start_ordered(item, range(6), "test")
    caller_work = float(np.linalg.det(np.eye(3) * 2))  # the caller's own work, in the meantime
    signal.touch()
    assert pending.result() == [f"item {i}" for i in range(6)]
    assert pending.result() is pending.result()  # taken once, kept
    assert caller_work == pytest.approx(8.0)


@needs_two_workers
def test_a_worker_error_reaches_the_caller():
    def item(i: int) -> int:
        if i == 3:
            raise ValueError("replicate 3 failed")
        return i

    pending = parallel.start_ordered(item, range(6), "test")
    with pytest.raises(ValueError, match="replicate 3 failed"):
        pending.result()


def test_a_single_worker_computes_at_once(monkeypatch):
    monkeypatch.setattr(parallel, "workers", lambda: 1)
    calls = []
    pending = parallel.start_ordered(lambda i: calls.append(i) or i, range(4), "test")
    assert calls == [0, 1, 2, 3]  # no workers to wait for: done before the caller goes on
    assert pending.result() == [0, 1, 2, 3]


def test_without_fork_the_loop_runs_in_threads_in_order(monkeypatch):
    """Where fork is unavailable (not Linux) the workers are threads: same results, same order."""
    monkeypatch.setattr(parallel, "workers", lambda: 2)
    monkeypatch.setattr(parallel.multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    monkeypatch.setattr(parallel.multiprocessing, "get_context", lambda *a: pytest.fail("no process pool without fork"))
    assert parallel.start_ordered(lambda i: i * 3, range(25), "test").result() == [i * 3 for i in range(25)]
    assert parallel.map_ordered(lambda i: -i, range(5), "test") == [0, -1, -2, -3, -4]

from __future__ import annotations

import threading
from typing import Any

import numba
import numpy as np
import pytest
import torch

from robe.ops import cpu_load, threads


@pytest.fixture(autouse=True)
def _free_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every core free, whatever else the machine runs (tested on its own below)."""
    monkeypatch.setattr(cpu_load, "free_cores", lambda total: float(total))
    monkeypatch.setattr("os.cpu_count", lambda: 3)


@numba.njit(nogil=True)
def _mark(parts: Any, seen: Any) -> None:
    """A claiming kernel: adds 1 to seen[i] for every i of every part it claims."""
    while True:
        lo, hi = threads.claim(parts)
        if lo == hi:
            break
        for i in range(lo, hi):
            seen[i] += 1
        threads.finish(parts)


def test_small_work_is_one_part_on_the_calling_thread() -> None:
    parts = threads.plan(100, threads.SPLIT_WORK - 1)
    assert parts[4] == 1
    names: list[str] = []
    threads.run_claimed(parts, lambda: names.append(threading.current_thread().name))
    assert names == [threading.current_thread().name]


@pytest.mark.parametrize("length", [0, 1, 7, 1000, 100_003])
def test_claimed_parts_cover_the_range_exactly_once(
    length: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    parts = threads.plan(length, 1 << 30)
    assert min(3, length) <= parts[4] <= min(threads.MAX_PARTS, length)
    seen = np.zeros(length, dtype=np.int64)
    threads.run_claimed(parts, lambda: _mark(parts, seen))
    assert (seen == 1).all()
    assert parts[1] == parts[4]  # every part finished before the call returned


def test_a_pool_thread_that_never_wakes_does_not_hold_up_the_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The calling thread claims every part when the pool's threads are busy elsewhere."""
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    pool = threads._get_pool(1)
    release = threading.Event()
    blocker = pool.submit(release.wait)  # the pool's only thread, taken
    try:
        parts = threads.plan(10_000, 1 << 30)
        seen = np.zeros(10_000, dtype=np.int64)
        threads.run_claimed(parts, lambda: _mark(parts, seen))
        assert (seen == 1).all()
        assert not blocker.done()
    finally:
        release.set()
        blocker.result()


def test_one_torch_thread_means_one_part(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert threads.private_parts(10**12) == 1
    assert threads.plan(10**9, 10**12)[4] == 1


def test_run_parts_runs_each_part_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    seen: list[int] = []
    lock = threading.Lock()

    def part(i: int) -> None:
        with lock:
            seen.append(i)

    threads.run_parts(5, part)
    assert sorted(seen) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("free", "want"), [(3.0, 3), (2.6, 3), (2.4, 2), (1.6, 2), (1.4, 1), (0.0, 1)]
)
def test_pool_threads_only_for_free_cores(
    free: float, want: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    monkeypatch.setattr(cpu_load, "free_cores", lambda total: free)
    assert threads._helpers(threads.MAX_PARTS) == want - 1
    assert threads.plan(10_000, 1 << 30)[4] == (1 if want == 1 else threads.MAX_PARTS)
    assert threads.private_parts(1 << 30) == 3  # the same sums, however loaded

from __future__ import annotations

import threading

import pytest
import torch

from robe.ops import threads


def test_small_work_stays_in_the_calling_thread() -> None:
    seen: list[tuple[int, int, str]] = []

    def kernel(lo: int, hi: int) -> None:
        seen.append((lo, hi, threading.current_thread().name))

    threads.run_split(100, threads.MIN_WORK_PER_PART - 1, kernel)
    assert seen == [(0, 100, threading.current_thread().name)]


@pytest.mark.parametrize("length", [1, 7, 1000])
def test_parts_cover_the_range_exactly_once(length: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    covered: list[int] = []
    lock = threading.Lock()

    def kernel(lo: int, hi: int) -> None:
        with lock:
            covered.extend(range(lo, hi))

    work = 100 * threads.MIN_WORK_PER_PART
    assert threads.num_parts(length, work) == min(6, length)
    threads.run_split(length, work, kernel)
    assert sorted(covered) == list(range(length))


def test_one_torch_thread_means_one_part(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert threads.num_parts(10**9, 10**12) == 1

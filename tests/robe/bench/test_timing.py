from __future__ import annotations

import pytest

from robe.bench import timing
from robe.bench.timing import round_robin


class FakeClock:
    """Stands in for `time` in robe.bench.timing: only the calls move it."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def process_time(self) -> float:
        return self.now


def test_every_call_is_timed_and_slow_ones_get_fewer_repeats(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(timing, "time", clock)
    counts = {"fast": 0, "slow": 0}

    def fast() -> None:
        counts["fast"] += 1
        clock.now += 0.001

    def slow() -> None:
        counts["slow"] += 1
        clock.now += 0.02

    timings = round_robin({"fast": fast, "slow": slow}, repeats=20, warmup=1, max_seconds=0.05)
    assert timings["fast"].repeats == 20 and counts["fast"] == 21
    # 0.05 s of budget holds two calls of 0.02 s; never fewer than 3 repeats
    assert timings["slow"].repeats == 3 and counts["slow"] == 4
    assert timings["slow"].median_s == pytest.approx(0.02)
    assert timings["fast"].median_s == pytest.approx(0.001)
    assert timings["fast"].median_cpu_s == pytest.approx(0.001)


def test_bad_repeats_are_refused() -> None:
    with pytest.raises(ValueError, match="repeats=0"):
        round_robin({}, repeats=0, warmup=0, max_seconds=1)


def test_a_burst_times_consecutive_calls_after_an_untimed_one() -> None:
    order: list[str] = []
    calls = {"a": lambda: order.append("a"), "b": lambda: order.append("b")}
    timings = round_robin(calls, repeats=6, warmup=1, max_seconds=60, burst=3)
    assert timings["a"].repeats == timings["b"].repeats == 6
    # warmup a, b; then per turn one untimed and three timed calls, turns alternating
    assert order == ["a", "b"] + (["a"] * 4 + ["b"] * 4) * 2

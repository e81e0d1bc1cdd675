from __future__ import annotations

from pathlib import Path

import pytest

from robe.ops import cpu_load


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_other_processes_cores_are_busy_time_less_our_own() -> None:
    clock = Clock()
    busy = iter([10.0, 10.9, 11.0])  # seconds, all cores, since boot
    own = iter([1.0, 1.4, 1.5])  # seconds of this process
    load = cpu_load.OtherLoad(0.25, lambda: next(busy), lambda: next(own), clock)
    assert load.cores() == 0.0  # one reading: nothing to compare yet
    clock.now += 0.1
    assert load.cores() == 0.0  # within the window: the old estimate, no new reading
    clock.now += 0.4  # 0.5 s after the first reading: 0.9 s busy, 0.4 s of it ours
    assert load.cores() == pytest.approx(1.0)
    clock.now += 0.5  # 0.1 s busy, all of it ours
    assert load.cores() == 0.0


def test_without_proc_stat_every_core_is_free() -> None:
    load = cpu_load.OtherLoad(0.0, lambda: None)
    assert load.cores() == 0.0
    assert load.cores() == 0.0


def test_reads_the_cpu_line_of_proc_stat(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 20 30 4000 50 6 7 8 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
    busy = cpu_load.read_busy_s(str(stat))
    assert busy == pytest.approx((100 + 20 + 30 + 6 + 7 + 8) * cpu_load._TICK_S)
    assert cpu_load.read_busy_s(str(tmp_path / "missing")) is None
    stat.write_text("intr 1 2 3\n")
    assert cpu_load.read_busy_s(str(stat)) is None

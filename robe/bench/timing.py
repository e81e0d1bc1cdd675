"""Timing several implementations side by side: round-robin, so that they share the
machine's noise (other processes, frequency changes) instead of each meeting its own."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

Call = Callable[[], None]


@dataclass(frozen=True)
class Timing:
    median_s: float  # wall time
    median_cpu_s: float  # CPU time of the whole process, all its threads
    repeats: int


def round_robin(
    calls: dict[str, Call],
    repeats: int,
    warmup: int,
    max_seconds: float,
    sync: Callable[[], None] = lambda: None,
    burst: int = 1,
) -> dict[str, Timing]:
    """Median wall and CPU time of each call; one that takes long gets fewer repeats (at
    least 3) so that one slow implementation cannot make a run take hours.

    CPU time is the process's, summed over threads: on a machine shared with other jobs
    it is what stays put while wall time swings with the scheduler.

    With `burst` > 1 each turn of an implementation is one untimed call and then `burst`
    timed ones, so each is measured with its own data in cache (as when a server does
    the same lookup back to back) instead of just after another one swept the caches."""
    if repeats < 1 or warmup < 0 or burst < 1:
        raise ValueError(
            f"repeats={repeats} and burst={burst} must be >= 1 and warmup={warmup} >= 0"
        )
    for call in calls.values():
        for _ in range(max(warmup, 1)):
            call()
    sync()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    cpu: dict[str, list[float]] = {name: [] for name in calls}
    budget: dict[str, int] = dict.fromkeys(calls, repeats)
    for _ in range(repeats):
        for name, call in calls.items():
            if len(samples[name]) >= budget[name]:
                continue
            if burst > 1:
                call()
            for _ in range(burst):
                if len(samples[name]) >= budget[name]:
                    break
                start, start_cpu = time.perf_counter(), time.process_time()
                call()
                sync()
                took = time.perf_counter() - start
                cpu[name].append(time.process_time() - start_cpu)
                samples[name].append(took)
                if len(samples[name]) == 1:
                    budget[name] = max(
                        min(3, repeats), min(repeats, int(max_seconds / max(took, 1e-9)))
                    )
    return {
        name: Timing(statistics.median(times), statistics.median(cpu[name]), len(times))
        for name, times in samples.items()
    }

"""How many cores other processes keep busy, so that a kernel wakes a pool thread only
when a core is there for it.

On a machine whose cores are all taken by other jobs, a woken pool thread waits for a
core or takes the calling thread's: measured on the 2-core dev VM at a load average of
6 to 8, the Kaggle-shape forward (batch 4096) took 0.78 ms (median) on two threads and
0.49 ms on one. libgomp's `OMP_DYNAMIC` makes the same call from the load average; that
counts this process's own threads too, so here the other processes' share is measured:
all cores' busy time (/proc/stat, including time the hypervisor took) minus this
process's CPU time, over the last quarter second. Where /proc/stat is missing (not
Linux) every core counts as free.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

WINDOW_S = 0.25  # how old a reading may get before it is refreshed
_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01


def read_busy_s(path: str = "/proc/stat") -> float | None:
    """Seconds all cores have spent busy since boot (user, nice, system, irq, softirq,
    steal), or None where the file cannot be read."""
    try:
        with open(path, encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 9:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
    return (user + nice + system + irq + softirq + steal) * _TICK_S


@dataclass
class _Reading:
    at_s: float
    busy_s: float
    own_s: float


class OtherLoad:
    """Cores kept busy by other processes, averaged over about `window_s`."""

    def __init__(
        self,
        window_s: float = WINDOW_S,
        busy_s: Callable[[], float | None] = read_busy_s,
        own_s: Callable[[], float] = time.process_time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window_s = window_s
        self._busy_s = busy_s
        self._own_s = own_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last: _Reading | None = None
        self._cores = 0.0

    def cores(self) -> float:
        """Other processes' cores, as of the last reading (0 until two readings, or
        without /proc/stat)."""
        now = self._clock()
        last = self._last
        if last is not None and now - last.at_s < self._window_s:
            return self._cores
        with self._lock:
            busy = self._busy_s()
            if busy is None:
                return 0.0
            reading = _Reading(now, busy, self._own_s())
            if last is not None and now > last.at_s:
                others = (busy - last.busy_s) - (reading.own_s - last.own_s)
                self._cores = max(0.0, others / (now - last.at_s))
            self._last = reading
            return self._cores


_machine = OtherLoad()


def free_cores(total: int) -> float:
    """Of `total` cores, how many other processes leave free (recent average)."""
    return max(0.0, total - _machine.cores())

"""Splitting a kernel's range over threads, for numba kernels that release the GIL.

A Python thread pool rather than numba's own parallel loops: it is safe to call from
several threads at once (numba's `workqueue` layer is not) and it follows
`torch.get_num_threads()`.

The forward kernels claim their parts themselves (`claim`, `finish`: an atomic counter
shared by the threads of one call, `plan`'s array). The calling thread starts on the
parts at once; a pool thread joins when it wakes and takes what is left. Waking it
costs tens of microseconds on an idle 2-core VM and milliseconds on a loaded one, where
it waits for a core. Before, a call was cut in four quarters taken from a Python
counter and the caller slept until the pool thread's quarters were done, paying the
wake-up on both ends. The call returns once every part is finished (the caller polls
for the last one rather than sleep); a pool thread that wakes after that claims
nothing and touches nothing but the counter. No pool thread is woken where other
processes keep the cores busy (robe.ops.cpu_load): there it would only take a core
from the calling thread.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
import torch

from robe.ops import cpu_load
from robe.ops.atomics import fetch_add, load

# Below this much work (array elements touched, ~0.2 ms on one core) a call runs on the
# calling thread alone: a pool thread would rarely wake in time to take a part.
SPLIT_WORK = 1 << 19
# Work per claimed part (~10 us at the Kaggle shape): small enough that a thread that
# wakes late still finds parts, and that the last part another thread holds is short.
PART_WORK = 1 << 16
MAX_PARTS = 64
AWAIT_POLLS = 1 << 18  # ~70 us of polling for the last part before sleeping on it

# plan()'s array: [next part to claim, parts finished, length, part size, parts]
_NEXT, _FINISHED, _LENGTH, _SIZE, _COUNT = range(5)

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def _get_pool(size: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size != size:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="robe-kernel")
            _pool_size = size
        return _pool


def _helpers(parts: int) -> int:
    """How many pool threads to wake for `parts` parts: torch's thread count less the
    caller, less those no core is free for (robe.ops.cpu_load)."""
    threads = max(1, torch.get_num_threads())
    if threads == 1 or parts <= 1:
        return 0
    # The calling thread has its core; a pool thread gets one where others leave half free.
    free = int(cpu_load.free_cores(os.cpu_count() or 1) - 0.5)
    return max(0, min(threads, 1 + free, parts) - 1)


def private_parts(work: int) -> int:
    """How many parts a kernel with state of its own per part (the backward's private
    gradients) is cut into: torch's thread count from SPLIT_WORK up, whatever the load,
    since the parts fix the order of the sums (the same bits on every call). Parts that
    no free core takes run one after another on the caller."""
    return 1 if work < SPLIT_WORK else max(1, torch.get_num_threads())


def plan(length: int, work: int) -> npt.NDArray[np.int64]:
    """The parts [0, length) is cut into for `work` elements of work, as the counter
    array the kernels claim them from (`claim`)."""
    threads = max(1, torch.get_num_threads())
    split = work >= SPLIT_WORK and _helpers(threads) > 0
    count = min(MAX_PARTS, max(threads, work // PART_WORK)) if split else 1
    count = max(1, min(count, length))
    size = max(1, -(-length // count))
    return np.array([0, 0, length, size, -(-length // size)], dtype=np.int64)


@numba.njit(inline="always", cache=True)
def claim(parts: Any) -> tuple[int, int]:
    """The next unclaimed part [lo, hi) of a `plan`; lo == hi when none is left."""
    p = fetch_add(parts, _NEXT, 1)
    lo = min(p * parts[_SIZE], parts[_LENGTH])
    return lo, min(lo + parts[_SIZE], parts[_LENGTH])


@numba.njit(inline="always", cache=True)
def finish(parts: Any) -> None:
    """Mark a claimed part finished (after its writes: the add is sequentially consistent)."""
    fetch_add(parts, _FINISHED, 1)


@numba.njit(cache=True)
def _finished(parts: Any) -> int:
    return int(load(parts, _FINISHED))


@numba.njit(cache=True, nogil=True)
def _await_finished(parts: Any, polls: int) -> bool:
    """Poll (without the GIL) until every part is finished, at most `polls` times."""
    polled = 0
    while polled < polls and load(parts, _FINISHED) < parts[_COUNT]:
        polled += 1
    return polled < polls


def run_claimed(parts: npt.NDArray[np.int64], kernel: Callable[[], None]) -> None:
    """Run `kernel()`, which claims and finishes the parts of `parts` until none is left,
    on the calling thread and on as many pool threads as the plan has use for; return
    when every part is finished."""
    count = int(parts[_COUNT])
    helpers = _helpers(count)
    if helpers == 0:
        kernel()
        return
    pool = _get_pool(max(1, torch.get_num_threads()) - 1)
    pending: set[Future[None]] = {pool.submit(kernel) for _ in range(helpers)}
    futures = list(pending)
    kernel()
    # A pool thread holding the last part finishes it within a part's time unless it lost
    # its core: poll for that long rather than sleep and wait to be woken.
    if _await_finished(parts, AWAIT_POLLS):
        return
    # Parts still running belong to pool threads whose kernel() has not returned.
    while _finished(parts) < count and pending:
        _, pending = wait(pending, return_when=FIRST_COMPLETED)
    if _finished(parts) < count:
        for future in futures:
            future.result()  # a pool thread's exception
        raise RuntimeError(f"{count - _finished(parts)} of {count} kernel parts never finished")


def run_parts(parts: int, kernel: Callable[[int], None]) -> None:
    """Run `kernel(i)` for every i in [0, parts) on the caller's thread and the pool
    threads a core is free for, each taking the next part until none is left: for
    kernels whose parts keep state of their own (the backward's private gradients)."""
    helpers = _helpers(parts)
    counter = itertools.count()  # next() on it is atomic under the GIL
    finished: list[int] = []

    def drain() -> None:
        while (i := next(counter)) < parts:
            kernel(i)
            finished.append(i)

    pool = _get_pool(max(1, torch.get_num_threads()) - 1) if helpers else None
    futures = [pool.submit(drain) for _ in range(helpers)] if pool else []
    drain()
    if len(finished) == parts:
        return  # a pool thread that wakes now finds nothing left
    for future in futures:
        future.result()

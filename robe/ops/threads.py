"""Splitting a kernel's range over threads, for kernels that release the GIL.

A Python thread pool rather than numba's own parallel loops: it is safe to call from
several threads at once (numba's `workqueue` layer is not), it follows
`torch.get_num_threads()`, and handing out more parts than threads keeps a thread that
lost its core to another process from holding up the whole call.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch

# Below this much work (array elements touched, ~0.1 ms on one core) a part is not worth
# handing over: waking a pool thread costs tens of microseconds on an idle machine and
# milliseconds on a loaded one, where it waits for a core.
MIN_WORK_PER_PART = 1 << 18

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


def num_parts(length: int, work: int, parts_per_thread: int = 2) -> int:
    """How many parts `run_split` cuts [0, length) into for `work` elements of work."""
    num_threads = max(1, torch.get_num_threads())
    if num_threads == 1:
        return 1
    return max(1, min(num_threads * parts_per_thread, work // MIN_WORK_PER_PART, length))


def run_split(
    length: int, work: int, kernel: Callable[[int, int], None], parts_per_thread: int = 2
) -> None:
    """Run `kernel(lo, hi)` over contiguous parts covering [0, length)."""
    parts = num_parts(length, work, parts_per_thread)
    bounds = [length * i // parts for i in range(parts + 1)]
    run_parts(parts, lambda i: kernel(bounds[i], bounds[i + 1]))


def run_parts(parts: int, kernel: Callable[[int], None]) -> None:
    """Run `kernel(i)` for every i in [0, parts): on the caller's thread alone for one
    part, else on the pool's threads and the caller's, each taking the next part until
    none is left."""
    if parts == 1:
        kernel(0)
        return
    num_threads = max(1, torch.get_num_threads())
    # next() on an itertools.count is atomic under the GIL.
    counter = itertools.count()

    def drain() -> None:
        while (i := next(counter)) < parts:
            kernel(i)

    pool = _get_pool(num_threads - 1)
    futures = [pool.submit(drain) for _ in range(min(num_threads, parts) - 1)]
    drain()
    for future in futures:
        future.result()

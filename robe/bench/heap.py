"""Freed memory kept for reuse while a benchmark runs, instead of going back to Linux.

glibc serves a large allocation (above its mmap threshold, which it raises to at most
32 MB as big blocks are freed) with a fresh mmap whose pages fault in, zeroed, on first
touch. A [4096 x 26, 128] float32 output is 54 MB: measured here, one
`F.embedding_bag` at the terabyte shape took 2.5 ms in one run and 14-17 ms in others,
depending only on what the process had allocated before. With mmap off and trimming
off, every implementation's output comes from reused heap, as in a long-running server
with a caching allocator, so the timings compare lookups, not page faults.
"""

from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_MAX = -4
_INT_MAX = 2**31 - 1


def reuse_freed_memory() -> str:
    """Ask glibc to serve every allocation from its heap and never trim it; returns
    what was done, for the results file ("off" where this is not glibc)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return "off: no C library found"
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError) as exc:
        return f"off: {exc}"
    if mallopt(_M_MMAP_MAX, 0) != 1 or mallopt(_M_TRIM_THRESHOLD, _INT_MAX) != 1:
        return "off: mallopt refused"
    return "glibc heap reused: mallopt(M_MMAP_MAX=0, M_TRIM_THRESHOLD=2**31-1)"

"""How OpenMP threads wait in a benchmark: passively, unless the caller said otherwise.

libgomp (torch's, onnxruntime's) reads OMP_WAIT_POLICY once, when it loads. Threads
that spin after a parallel region steal the core from whatever runs next on a small
machine (the numba lookup, the other runtime), so on 2 cores `robe bench lookup` gave
1.81x with PASSIVE and 0.98-1.30x without: the figure must not depend on whether the
user knew to set it. Called by the benchmark commands before torch or onnxruntime load.
"""

from __future__ import annotations

import os
import sys
from typing import Any

VARIABLE = "OMP_WAIT_POLICY"
DEFAULT = "PASSIVE"
_LIBRARIES = ("torch", "onnxruntime", "numba")


def wait_passively() -> dict[str, Any]:
    """Set OMP_WAIT_POLICY=PASSIVE unless it is set; returns the record for the results
    file, which says whether the setting came in time (no OpenMP library loaded yet)."""
    given = os.environ.get(VARIABLE)
    loaded = [name for name in _LIBRARIES if name in sys.modules]
    if given is None:
        os.environ[VARIABLE] = DEFAULT
    return {
        VARIABLE: os.environ[VARIABLE],
        "set_by": "caller" if given is not None else "robe bench",
        "in_effect": given is not None or not loaded,
        "loaded_before": loaded,
    }

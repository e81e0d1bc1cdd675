"""Session-wide test setup, run before any test module imports torch."""

from __future__ import annotations

import os
from pathlib import Path

# Triton picks interpreter or compiler for every @triton.jit function when it is imported,
# its own standard library (tl.max ...) included, and torch imports it: so the choice is
# made here, once, before torch loads. Without an NVIDIA device the CUDA kernels' tests
# then run on CPU tensors under the interpreter instead of skipping.
if not Path("/dev/nvidiactl").exists():
    os.environ.setdefault("TRITON_INTERPRET", "1")

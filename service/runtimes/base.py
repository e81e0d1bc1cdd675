"""The runtime interface: rows in, click probabilities out, on one device."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from service.rows import Dense, Keys

log = logging.getLogger("robe.service")

Scores = npt.NDArray[np.float32]


class Runtime(ABC):
    """One loaded model. `predict` is called from the device's inference thread only."""

    backend: str
    device: str
    # Pad batches up to the warmed batch-size buckets (static-shape compiled code).
    pad_to_buckets: bool = False
    # Key columns per sparse feature (the schema's max_values); None: one value each.
    key_widths: tuple[int, ...] | None = None

    @abstractmethod
    def predict(self, dense: Dense, keys: Keys) -> Scores:
        """dense [n, F] float32 and keys [n, S] int64 -> click probabilities [n] float32."""

    def init_thread(self) -> None:  # noqa: B027  (optional hook)
        """Called once in each inference thread before its first batch (see `scorer`).

        OpenMP thread counts are per calling thread, so torch runtimes set theirs here.
        """

    def scorer(self) -> Callable[[Dense, Keys], Scores]:
        """`predict`, calling `init_thread` first in each thread it runs in (a device
        has several inference workers)."""
        local = threading.local()

        def score(dense: Dense, keys: Keys) -> Scores:
            if not getattr(local, "ready", False):
                self.init_thread()
                local.ready = True
            return self.predict(dense, keys)

        return score

    def close(self) -> None:  # noqa: B027  (optional hook)
        """Release what the runtime holds (sessions, device memory)."""


# Device nodes of the kernel drivers a torch CUDA (or ROCm) device needs: NVIDIA's, AMD's
# KFD, and WSL2's GPU paravirtualisation.
GPU_DRIVER_NODES = ("/dev/nvidiactl", "/dev/kfd", "/dev/dxg")


def cuda_available() -> bool:
    """Whether a CUDA device is usable, asked of ONNX Runtime first (no torch needed)."""
    try:
        import onnxruntime as ort

        if "CUDAExecutionProvider" in ort.get_available_providers():
            return True
    except ImportError:  # pragma: no cover - onnxruntime is a serve dependency
        pass
    if not any(Path(node).exists() for node in GPU_DRIVER_NODES):
        return False  # no driver, no device: spares a CPU server importing torch (1.5 s)
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve_device(requested: str) -> str:
    if requested == "auto":
        device = "cuda" if cuda_available() else "cpu"
        log.info("device: %s (auto: CUDA %s)", device, "found" if device == "cuda" else "not found")
        return device
    log.info("device: %s (requested)", requested)
    return requested

"""What the torch runtimes (eager, TorchScript, AOTInductor) share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from service.rows import Dense, Keys, model_inputs
from service.runtimes.base import Runtime, Scores


class TorchRuntime(Runtime):
    """Holds torch (imported lazily: the ONNX path never needs it) and its thread count."""

    def __init__(self, device: str, threads: int) -> None:
        import torch

        self._torch = torch
        self.device = device
        self.threads = threads

    def init_thread(self) -> None:
        # OpenMP thread counts are per calling thread: set in the inference thread.
        if self.threads:
            self._torch.set_num_threads(self.threads)

    def _run(self, forward: Callable[..., Any], dense: Dense, keys: Keys) -> Scores:
        """forward(dense, values, offsets) on this device -> scores as float32 numpy."""
        torch = self._torch
        inputs = model_inputs(dense, keys, self.key_widths)
        with torch.inference_mode():
            out = forward(*(torch.from_numpy(a).to(self.device) for a in inputs))
        return np.asarray(out.float().cpu().numpy(), dtype=np.float32).reshape(-1)

"""Eager torch from a training checkpoint (RUN or RUN/checkpoint): the reference path."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from service.errors import ModelLoadError
from service.rows import Dense, Keys, model_inputs
from service.runtimes.base import Runtime, Scores


class EagerRuntime(Runtime):
    backend = "eager"

    def __init__(self, path: Path, device: str, threads: int = 0) -> None:
        import torch

        from robe.checkpoint import load_checkpoint
        from robe.errors import CheckpointError

        self.device = device
        self.threads = threads
        self._torch = torch
        try:
            model, self.spec = load_checkpoint(path)
        except CheckpointError as exc:
            raise ModelLoadError(str(exc)) from exc
        self.model = model.to(device).eval()

    def init_thread(self) -> None:
        if self.threads:
            self._torch.set_num_threads(self.threads)

    def predict(self, dense: Dense, keys: Keys) -> Scores:
        torch = self._torch
        d, values, offsets = model_inputs(dense, keys)
        with torch.inference_mode():
            logits = self.model(
                torch.from_numpy(d).to(self.device),
                torch.from_numpy(values).to(self.device),
                torch.from_numpy(offsets).to(self.device),
            )
            out = torch.sigmoid(logits)
        return np.asarray(out.float().cpu().numpy(), dtype=np.float32).reshape(-1)

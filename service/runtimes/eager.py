"""Eager torch from a training checkpoint (RUN or RUN/checkpoint): the reference path."""

from __future__ import annotations

from pathlib import Path

from service.errors import ModelLoadError
from service.rows import Dense, Keys
from service.runtimes.base import Scores
from service.runtimes.torch_common import TorchRuntime


class EagerRuntime(TorchRuntime):
    backend = "eager"

    def __init__(self, path: Path, device: str, threads: int = 0) -> None:
        from robe.checkpoint import load_checkpoint
        from robe.errors import CheckpointError

        super().__init__(device, threads)
        try:
            model, self.spec = load_checkpoint(path)
        except CheckpointError as exc:
            raise ModelLoadError(str(exc)) from exc
        self.model = model.to(device).eval()

    def predict(self, dense: Dense, keys: Keys) -> Scores:
        torch = self._torch
        return self._run(lambda *inputs: torch.sigmoid(self.model(*inputs)), dense, keys)

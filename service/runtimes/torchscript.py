"""TorchScript (`model.torchscript.pt`), opened by model_export.loaders (robe::lookup op)."""

from __future__ import annotations

from pathlib import Path

from robe.errors import RobeError
from service.errors import ModelLoadError
from service.rows import Dense, Keys
from service.runtimes.base import Scores
from service.runtimes.torch_common import TorchRuntime


class TorchScriptRuntime(TorchRuntime):
    backend = "torchscript"

    def __init__(self, path: Path, device: str, threads: int = 0) -> None:
        from model_export.loaders import torchscript_module

        super().__init__(device, threads)
        try:
            self.module = torchscript_module(path, device=device)
        except RobeError as exc:
            raise ModelLoadError(str(exc)) from exc

    def predict(self, dense: Dense, keys: Keys) -> Scores:
        return self._run(self.module, dense, keys)

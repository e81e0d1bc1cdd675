"""TorchScript (`model.torchscript.pt`); the ROBE lookup is the registered op robe::lookup."""

from __future__ import annotations

from pathlib import Path

from service.errors import ModelLoadError
from service.rows import Dense, Keys
from service.runtimes.base import Scores
from service.runtimes.torch_common import TorchRuntime


class TorchScriptRuntime(TorchRuntime):
    backend = "torchscript"

    def __init__(self, path: Path, device: str, threads: int = 0) -> None:
        import robe.ops  # noqa: F401  (registers torch.ops.robe before loading)
        from model_export.quiet import torch_notices_silenced

        super().__init__(device, threads)
        try:
            with torch_notices_silenced():
                self.module = self._torch.jit.load(str(path), map_location=device)
        except (RuntimeError, ValueError) as exc:
            raise ModelLoadError(f"{path}: TorchScript cannot load it ({exc})") from exc
        self.module.eval()

    def predict(self, dense: Dense, keys: Keys) -> Scores:
        return self._run(self.module, dense, keys)

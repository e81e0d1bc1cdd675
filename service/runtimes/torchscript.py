"""TorchScript (`model.torchscript.pt`); the ROBE lookup is the registered op robe::lookup."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from service.errors import ModelLoadError
from service.rows import Dense, Keys, model_inputs
from service.runtimes.base import Runtime, Scores


class TorchScriptRuntime(Runtime):
    backend = "torchscript"

    def __init__(self, path: Path, device: str, threads: int = 0) -> None:
        import torch

        import robe.ops  # noqa: F401  (registers torch.ops.robe before loading)
        from model_export.quiet import torch_notices_silenced

        self.device = device
        self.threads = threads
        self._torch = torch
        try:
            with torch_notices_silenced():
                load = torch.jit.load
                self.module = load(str(path), map_location=device)  # type: ignore[no-untyped-call]
        except (RuntimeError, ValueError) as exc:
            raise ModelLoadError(f"{path}: TorchScript cannot load it ({exc})") from exc
        self.module.eval()

    def init_thread(self) -> None:
        if self.threads:
            self._torch.set_num_threads(self.threads)

    def predict(self, dense: Dense, keys: Keys) -> Scores:
        torch = self._torch
        d, values, offsets = model_inputs(dense, keys)
        with torch.inference_mode():
            out = self.module(
                torch.from_numpy(d).to(self.device),
                torch.from_numpy(values).to(self.device),
                torch.from_numpy(offsets).to(self.device),
            )
        return np.asarray(out.float().cpu().numpy(), dtype=np.float32).reshape(-1)

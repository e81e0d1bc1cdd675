"""AOTInductor packages (`model.pt2`), compiled for one platform, device and torch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from service.errors import ModelLoadError
from service.rows import Dense, Keys, model_inputs
from service.runtimes.base import Runtime, Scores


class IncompatiblePackageError(ModelLoadError):
    """A .pt2 built for another torch, device or platform (the server falls back)."""


def check_compatible(entry: dict[str, Any], device: str) -> None:
    """Refuse a package whose manifest entry names another torch version or device."""
    import torch

    want_torch = entry.get("torch")
    if want_torch and want_torch != torch.__version__:
        raise IncompatiblePackageError(
            f"model.pt2 was compiled for torch {want_torch}, this is torch {torch.__version__}"
        )
    want_device = entry.get("device")
    if want_device and want_device != device:
        raise IncompatiblePackageError(
            f"model.pt2 was compiled for device {want_device}, serving on {device}"
        )


class AotiRuntime(Runtime):
    backend = "aoti"
    pad_to_buckets = True

    def __init__(self, path: Path, device: str, entry: dict[str, Any], threads: int = 0) -> None:
        import torch

        import robe.ops  # noqa: F401  (the package calls torch.ops.robe.*)

        check_compatible(entry, device)
        self.device = device
        self.threads = threads
        self._torch = torch
        try:
            self.runner = torch._inductor.aoti_load_package(str(path))
        except Exception as exc:  # the loader raises bare RuntimeErrors of many kinds
            raise IncompatiblePackageError(f"{path}: AOTInductor cannot load it ({exc})") from exc

    def init_thread(self) -> None:
        if self.threads:
            self._torch.set_num_threads(self.threads)

    def predict(self, dense: Dense, keys: Keys) -> Scores:
        torch = self._torch
        d, values, offsets = model_inputs(dense, keys)
        with torch.inference_mode():
            out = self.runner(
                torch.from_numpy(d).to(self.device),
                torch.from_numpy(values).to(self.device),
                torch.from_numpy(offsets).to(self.device),
            )
        if isinstance(out, list | tuple):
            out = out[0]
        return np.asarray(out.float().cpu().numpy(), dtype=np.float32).reshape(-1)

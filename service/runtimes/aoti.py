"""AOTInductor packages (`model.pt2`, and `model.cuda.pt2` for CUDA), one platform each.

Compatibility (platform, torch version) is checked by model_export.runners.load_aoti;
a package that does not fit raises IncompatiblePackageError, and the loader falls back
to another format of the artifact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from robe.errors import RobeError
from service.errors import ModelLoadError
from service.rows import Dense, Keys, model_inputs
from service.runtimes.base import Scores
from service.runtimes.torch_common import TorchRuntime


class IncompatiblePackageError(ModelLoadError):
    """A .pt2 built for another torch, device or platform (the server falls back)."""


class AotiRuntime(TorchRuntime):
    backend = "aoti"

    def __init__(self, path: Path, device: str, entry: dict[str, Any], threads: int = 0) -> None:
        # No robe.ops import: the package holds plain ATen kernels and needs no registration.
        from model_export.runners import load_aoti

        if device == "cuda":
            cuda = entry.get("cuda")
            if not isinstance(cuda, dict) or "file" not in cuda:
                raise IncompatiblePackageError(
                    f"{path}: the artifact has no CUDA AOTInductor package (export it on a "
                    "machine with CUDA)"
                )
            path = path.parent / str(cuda["file"])
        super().__init__(device, threads)
        try:
            self.score = load_aoti(path, entry=entry, device=device)
        except RobeError as exc:
            raise IncompatiblePackageError(str(exc)) from exc

    def predict(self, dense: Dense, keys: Keys) -> Scores:
        d, values, offsets = model_inputs(dense, keys, self.key_widths)
        return np.asarray(self.score(d, values, offsets), dtype=np.float32).reshape(-1)

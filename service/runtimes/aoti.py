"""AOTInductor packages (`model.pt2`, and `model.cuda.pt2` for CUDA), one platform each.

model_export.loaders.aoti_package opens them: it picks the CUDA package and checks
compatibility (platform, torch version). A package that does not fit raises
IncompatiblePackageError here, and the server falls back to another format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robe.errors import RobeError
from service.errors import ModelLoadError
from service.rows import Dense, Keys
from service.runtimes.base import Scores
from service.runtimes.torch_common import TorchRuntime


class IncompatiblePackageError(ModelLoadError):
    """A .pt2 built for another torch, device or platform (the server falls back)."""


class AotiRuntime(TorchRuntime):
    backend = "aoti"

    def __init__(self, path: Path, device: str, entry: dict[str, Any], threads: int = 0) -> None:
        # No robe.ops import: the package holds plain ATen kernels and needs no registration.
        from model_export.loaders import aoti_package

        super().__init__(device, threads)
        try:
            self.package = aoti_package(path, entry=entry, device=device)
        except RobeError as exc:
            raise IncompatiblePackageError(str(exc)) from exc

    def predict(self, dense: Dense, keys: Keys) -> Scores:
        return self._run(self.package, dense, keys)

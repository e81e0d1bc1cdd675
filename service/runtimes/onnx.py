"""ONNX Runtime (CPU or CUDA execution provider), opened by model_export.loaders. No torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model_export.loaders import onnx_session
from robe.errors import RobeError
from service.errors import ModelLoadError
from service.rows import Dense, Keys, model_inputs
from service.runtimes.base import Runtime, Scores


class OnnxRuntime(Runtime):
    backend = "onnx"

    def __init__(self, path: Path, device: str, threads: int = 0) -> None:
        self.device = device
        try:
            # no busy-waiting pool threads: the event loop needs the CPU between batches
            self.session = onnx_session(path, device=device, threads=threads, spinning=False)
        except RobeError as exc:
            raise ModelLoadError(str(exc)) from exc
        names = [i.name for i in self.session.get_inputs()]
        if names != ["dense", "values", "offsets"]:
            raise ModelLoadError(f"{path}: inputs {names}, expected dense, values, offsets")
        self.output = self.session.get_outputs()[0].name

    def predict(self, dense: Dense, keys: Keys) -> Scores:
        d, values, offsets = model_inputs(dense, keys, self.key_widths)
        out = self.session.run([self.output], {"dense": d, "values": values, "offsets": offsets})
        return np.asarray(out[0], dtype=np.float32).reshape(-1)

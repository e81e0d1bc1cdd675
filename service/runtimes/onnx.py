"""ONNX Runtime (CPU or CUDA execution provider). Imports no torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from service.errors import ModelLoadError
from service.rows import Dense, Keys, model_inputs
from service.runtimes.base import Runtime, Scores


class OnnxRuntime(Runtime):
    backend = "onnx"

    def __init__(self, path: Path, device: str, threads: int = 0) -> None:
        self.device = device
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        # no busy-waiting pool threads: the event loop needs the CPU between batches
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if device == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ModelLoadError(
                    "device cuda: this onnxruntime has no CUDAExecutionProvider "
                    "(install onnxruntime-gpu, or use --device cpu)"
                )
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        else:
            providers = ["CPUExecutionProvider"]
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelLoadError(f"{path}: ONNX Runtime cannot load it ({exc})") from exc
        names = [i.name for i in self.session.get_inputs()]
        if names != ["dense", "values", "offsets"]:
            raise ModelLoadError(f"{path}: inputs {names}, expected dense, values, offsets")
        self.output = self.session.get_outputs()[0].name

    def predict(self, dense: Dense, keys: Keys) -> Scores:
        d, values, offsets = model_inputs(dense, keys, self.key_widths)
        out = self.session.run([self.output], {"dense": d, "values": values, "offsets": offsets})
        return np.asarray(out[0], dtype=np.float32).reshape(-1)

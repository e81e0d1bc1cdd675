"""Static activation ranges for int8: each Linear's input range, measured once on rows the
model was trained on, so that the int8 layers quantize their inputs with constant scales.

With a constant scale, quantizing a layer's input is one pointwise step that a compiler
fuses into the previous layer's rescale, bias and ReLU; a per-row scale needs a max over
each row first (a second pass over the activations, and a reduction before every GEMM).
The rows are the first `rows` of the training run's data: robe.train holds out the last
`val_rows` for validation, so these are training rows, never the rows the guard scores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from model_export.accuracy import LabelledRows, labelled
from robe.schema import Schema

ROWS = 8192
# The range is this quantile of |x| over the calibration rows, not the max: one outlier
# would otherwise widen every row's quantization step.
QUANTILE = 0.9999


@dataclass(frozen=True)
class Calibration:
    """Input range (|x| at QUANTILE) of each Linear, by its path in the DLRM; and the rows
    themselves, for ONNX Runtime's calibrator (None: ranges only)."""

    ranges: Mapping[str, float]
    rows: int
    source: str
    data: LabelledRows | None = field(default=None, repr=False, compare=False)

    def entry(self) -> dict[str, Any]:
        """What the manifest records of it."""
        return {"rows": self.rows, "source": self.source, "quantile": QUANTILE}


def training_rows(schema: Schema, metrics: Mapping[str, Any], rows: int = ROWS) -> LabelledRows:
    """The first `rows` training rows of the run; ValueError where the run names none."""
    from robe.data.reader import read_rows

    path, trained = metrics.get("data"), metrics.get("train_rows")
    if not isinstance(path, str) or not Path(path).exists():
        raise ValueError(f"the run's training data {path!r} is not readable here")
    if not isinstance(trained, int) or trained < 1:
        raise ValueError("the run's metrics.json names no train_rows")
    return labelled(read_rows(Path(path), schema, limit_rows=min(rows, trained)))


def calibrate(model: nn.Module, rows: LabelledRows, source: str) -> Calibration:
    """Run the float32 `model` (a DLRM) on `rows` and record each Linear's input range."""
    seen: dict[str, list[torch.Tensor]] = {}
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):

            def record(_: nn.Module, args: tuple[torch.Tensor, ...], name: str = name) -> None:
                seen.setdefault(name, []).append(args[0].detach().abs().flatten())

            hooks.append(module.register_forward_pre_hook(record))
    try:
        with torch.inference_mode():
            for dense, values, offsets in rows.batches():
                model(torch.from_numpy(dense), torch.from_numpy(values), torch.from_numpy(offsets))
    finally:
        for hook in hooks:
            hook.remove()
    ranges = {name: _quantile(torch.cat(parts)) for name, parts in seen.items()}
    return Calibration(ranges, len(rows.labels), source, rows)


def run_calibration(model: nn.Module, schema: Schema, metrics: Mapping[str, Any]) -> Calibration:
    """`calibrate` on the training rows of the run `metrics` describes."""
    rows = training_rows(schema, metrics)
    return calibrate(model, rows, f"{metrics['data']} (first {len(rows.labels)} rows)")


def _quantile(values: torch.Tensor) -> float:
    k = max(1, min(values.numel(), round(QUANTILE * values.numel())))
    return float(values.float().kthvalue(k).values)

"""Reduced-precision layers for the torch formats (eager, compiled, TorchScript,
AOTInductor): one statement of each precision, in plain ATen ops, so that the same
module runs eagerly, traces into TorchScript and exports into an AOTInductor package.

- bf16 (and fp16): weights stored in the narrow type; each layer casts its input
  down and its output back to float32 (oneDNN's AVX-512 BF16 GEMMs on CPU).
- int8: weights quantized once per output channel (symmetric, int8), activations
  quantized (symmetric, int8) with one scale per layer calibrated on training rows
  (model_export.calibration) or, for a model without them, per row at run time;
  `torch._int_mm` (oneDNN's int8 GEMM, VNNI on CPU) into int32, then rescaled. The
  calibrated form measured 0.6 of the per-row form's time in its quantize steps
  (one pass that fuses into the previous layer, not a row max and then a pass).
  torch's own dynamic quantization
  (`quantize_dynamic`) keeps its weights in packed-parameter objects that
  `torch.export` cannot capture, so it could not serve AOTInductor; this can.

- the interaction: its pairwise dot products (a batch of [T+1, D] x [D, T+1] GEMMs)
  run in bf16 (fp16 for fp16) in every reduced variant, int8 included: oneDNN's bf16
  batched GEMM took 0.7 ms a 1024-row Kaggle batch where float32's took 1.9 (2 cores,
  OMP_WAIT_POLICY=PASSIVE; mostly waking the thread pool). The dense vector it passes
  on stays float32.

The ROBE lookup, its hash and its array stay float32.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from model_export.calibration import Calibration
from model_export.precision import FP32
from robe.model import InteractionArch

_NARROW = {"bf16": torch.bfloat16, "fp16": torch.float16}
_VNNI_DEPTH = 4
# Wider inputs are not padded: the pad, fused into the quantize step before the GEMM,
# measured slower there (1.2 against 0.55 ms for the Kaggle interaction's 367 columns)
# than the GEMM's odd width costs.
_PAD_BELOW = 64
INT8_METHOD = (
    "int8 weights per output channel, activations quantized {}, "
    "torch._int_mm (int8 GEMM); interaction dot products in bf16"
)
_DYNAMIC = "per row at run time"
_STATIC = "per tensor with scales calibrated on training rows"
NARROW_METHOD = (
    "{} weights; each Linear casts its input down and its output to float32; "
    "interaction dot products in {}"
)


class NarrowLinear(nn.Module):
    """A Linear computed in bf16 or fp16 whose input and output are float32."""

    def __init__(self, linear: nn.Linear, dtype: torch.dtype) -> None:
        super().__init__()
        self.weight = nn.Parameter(linear.weight.detach().to(dtype), requires_grad=False)
        bias = linear.bias.detach().to(dtype) if linear.bias is not None else None
        self.bias = nn.Parameter(bias, requires_grad=False) if bias is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = nn.functional.linear(x.to(self.weight.dtype), self.weight, self.bias)
        return out.float()


class Int8Linear(nn.Module):
    """A Linear as an int8 GEMM: per-channel weight scales; the input quantized with one
    calibrated scale (`input_range`, model_export.calibration) or, without one, per row
    at run time. A narrow input is padded to a multiple of 4 columns, the depth of a VNNI
    dot product: oneDNN runs a 13-wide int8 GEMM (the Kaggle dense input) on a slow path
    (0.40 against 0.14 ms padded to 16, 1024 rows)."""

    weight_t: torch.Tensor
    weight_scale: torch.Tensor
    bias: torch.Tensor | None

    def __init__(self, linear: nn.Linear, input_range: float | None = None) -> None:
        super().__init__()
        weight = linear.weight.detach().float()
        scale = weight.abs().amax(dim=1).clamp(min=1e-12) / 127.0
        quantized = torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8)
        narrow = linear.in_features < _PAD_BELOW
        self.pad = -linear.in_features % _VNNI_DEPTH if narrow else 0
        quantized = nn.functional.pad(quantized, (0, self.pad))
        # [in, out], contiguous: the layout torch._int_mm takes as its second operand
        self.register_buffer("weight_t", quantized.t().contiguous())
        # static: the input's scale folds into the output's, one constant per channel
        self.input_scale = None if input_range is None else max(input_range, 1e-12) / 127.0
        out_scale = scale if self.input_scale is None else scale * self.input_scale
        self.register_buffer("weight_scale", out_scale)
        bias = linear.bias.detach().float().clone() if linear.bias is not None else None
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_scale is None:
            scale = x.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127.0
            quantized = torch.round(x / scale).clamp(-127, 127).to(torch.int8)
            out_scale = scale * self.weight_scale
        else:
            quantized = torch.round(x * (1.0 / self.input_scale)).clamp(-127, 127).to(torch.int8)
            out_scale = self.weight_scale
        if self.pad:
            quantized = nn.functional.pad(quantized, (0, self.pad))
        out = torch._int_mm(quantized, self.weight_t).float() * out_scale
        return out + self.bias if self.bias is not None else out


class NarrowInteraction(InteractionArch):
    """The DLRM interaction with its dot products computed in bf16 or fp16."""

    def __init__(self, source: InteractionArch, dtype: torch.dtype) -> None:
        super().__init__(source.num_vectors - 1)
        self.dtype = dtype

    def gram(self, stacked: torch.Tensor) -> torch.Tensor:
        narrow = stacked.to(self.dtype)
        return torch.bmm(narrow, narrow.transpose(1, 2)).float()


def reduced_layers(
    module: nn.Module, precision: str, calibration: Calibration | None = None
) -> nn.Module:
    """A copy of `module` whose every Linear and interaction computes at `precision`
    (fp32: `module`). int8 with a `calibration` (of a DLRM whose layers `module` holds
    under the same paths, as the export wrappers do) quantizes every Linear's input with
    a calibrated scale; without one, per row at run time."""
    if precision == FP32:
        return module
    if precision != "int8" and precision not in _NARROW:
        raise ValueError(f"no torch Linear at precision {precision!r}")
    # Tensors outside Linear layers (a 2 GB plain table, the ROBE array) are shared with
    # `module`, not copied: the memo makes deepcopy reuse them.
    linear = {id(t) for m in module.modules() if isinstance(m, nn.Linear) for t in m.parameters()}
    shared = [*module.parameters(), *module.buffers()]
    memo: dict[int, object] = {id(t): t for t in shared if id(t) not in linear}
    out = copy.deepcopy(module, memo)
    ranges = calibration.ranges if calibration is not None and precision == "int8" else None
    _replace(out, precision, ranges, "")
    return out


def variant_record(precision: str, calibration: Calibration | None = None) -> dict[str, Any]:
    """How `precision` is made, for its manifest entry: `method`, and for int8 with
    static scales, the `calibration` rows."""
    if precision != "int8":
        return {"method": NARROW_METHOD.format(precision, precision)}
    if calibration is None:
        return {"method": INT8_METHOD.format(_DYNAMIC)}
    return {"method": INT8_METHOD.format(_STATIC), "calibration": calibration.entry()}


def _replace(
    module: nn.Module, precision: str, ranges: Mapping[str, float] | None, prefix: str
) -> None:
    for name, child in module.named_children():
        path = f"{prefix}{name}"
        if isinstance(child, InteractionArch):
            narrow = _NARROW.get(precision, torch.bfloat16)  # int8: bf16 dot products
            setattr(module, name, NarrowInteraction(child, narrow))
        elif isinstance(child, nn.Linear):
            new: nn.Module
            if precision == "int8":
                if ranges is not None and path not in ranges:
                    raise ValueError(f"the calibration has no input range for layer {path}")
                new = Int8Linear(child, None if ranges is None else ranges[path])
            else:
                new = NarrowLinear(child, _NARROW[precision])
            setattr(module, name, new)
        else:
            _replace(child, precision, ranges, f"{path}.")

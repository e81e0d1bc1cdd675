"""Reduced-precision Linear layers for the torch formats (eager, compiled, TorchScript,
AOTInductor): one statement of each precision, in plain ATen ops, so that the same
module runs eagerly, traces into TorchScript and exports into an AOTInductor package.

- bf16 (and fp16): weights stored in the narrow type; each layer casts its input
  down and its output back to float32 (oneDNN's AVX-512 BF16 GEMMs on CPU).
- int8: weights quantized once per output channel (symmetric, int8), activations
  quantized per row at run time (symmetric, int8), `torch._int_mm` (oneDNN's int8
  GEMM, VNNI on CPU) into int32, then rescaled. torch's own dynamic quantization
  (`quantize_dynamic`) keeps its weights in packed-parameter objects that
  `torch.export` cannot capture, so it could not serve AOTInductor; this can.

Only Linear layers change: the ROBE lookup, its array and the interaction stay float32.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from model_export.precision import FP32

_NARROW = {"bf16": torch.bfloat16, "fp16": torch.float16}
INT8_METHOD = (
    "int8 weights per output channel, activations quantized per row at run time, "
    "torch._int_mm (int8 GEMM)"
)
NARROW_METHOD = "{} weights; each Linear casts its input down and its output to float32"


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
    """A Linear as an int8 GEMM: per-channel weight scales, per-row activation scales."""

    weight_t: torch.Tensor
    weight_scale: torch.Tensor
    bias: torch.Tensor | None

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach().float()
        scale = weight.abs().amax(dim=1).clamp(min=1e-12) / 127.0
        quantized = torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8)
        # [in, out], contiguous: the layout torch._int_mm takes as its second operand
        self.register_buffer("weight_t", quantized.t().contiguous())
        self.register_buffer("weight_scale", scale)
        bias = linear.bias.detach().float().clone() if linear.bias is not None else None
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127.0
        quantized = torch.round(x / scale).clamp(-127, 127).to(torch.int8)
        out = torch._int_mm(quantized, self.weight_t).float() * (scale * self.weight_scale)
        return out + self.bias if self.bias is not None else out


def reduced_linears(module: nn.Module, precision: str) -> nn.Module:
    """A copy of `module` whose every Linear computes at `precision` (fp32: `module`)."""
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
    _replace(out, precision)
    return out


def method(precision: str) -> str:
    """How `precision` is made, for the manifest."""
    return INT8_METHOD if precision == "int8" else NARROW_METHOD.format(precision)


def _replace(module: nn.Module, precision: str) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.Linear):
            new: nn.Module = (
                Int8Linear(child)
                if precision == "int8"
                else NarrowLinear(child, _NARROW[precision])
            )
            setattr(module, name, new)
        else:
            _replace(child, precision)

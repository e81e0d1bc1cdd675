"""Reduced-precision variants of a model: what each format offers, and how it is made.

fp32 is the exported model itself. The others change only the MLPs (the arithmetic that
bounds a DLRM's speed on CPU); the ROBE lookup, its hash and its array stay float32,
so indices stay bit-identical to the reference op.

- ONNX int8: ONNX Runtime's own dynamic quantization of every Gemm/MatMul with a
  constant weight (int8 weights, uint8 activations quantized per batch), which its CPU
  provider runs as integer GEMMs on VNNI. Static QDQ (calibrated) measured no faster
  here at batch 1024 and needs calibration rows, so dynamic is the method.
- ONNX bf16: not offered; ONNX Runtime's CPU provider has no bfloat16 MatMul or Gemm
  kernel ("Could not find an implementation", onnxruntime 1.32).
- torch (eager, compiled): bf16 and fp16 by autocast (oneDNN's AVX-512 BF16 GEMMs on
  CPU, tensor cores on CUDA; fp16 only on CUDA), int8 by torch's dynamic quantization of
  the Linear layers (FBGEMM, CPU only).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from model_export.errors import ExportError

PRECISIONS = ("fp32", "bf16", "fp16", "int8")
FP32 = "fp32"
# A variant whose validation AUC falls further than this below eager fp32's fails its guard.
AUC_DELTA_MIN = -0.001


class PrecisionUnavailableError(ExportError):
    """A precision that a format or device does not offer."""


def parse_precisions(text: str) -> tuple[str, ...]:
    precisions = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    if not precisions:
        raise ValueError(f"--precision is empty: name any of {','.join(PRECISIONS)}")
    for p in precisions:
        if p not in PRECISIONS:
            raise ValueError(f"unknown precision {p!r}: use any of {','.join(PRECISIONS)}")
    return precisions


def variant_file(file: str, precision: str) -> str:
    """`model.onnx` -> `model.int8.onnx`; fp32 is the file itself."""
    if precision == FP32:
        return file
    stem, dot, suffix = file.partition(".")
    return f"{stem}.{precision}{dot}{suffix}"


def write_onnx_variant(fp32_path: Path, precision: str) -> dict[str, Any]:
    """Write the `precision` variant of the ONNX model beside it; returns its entry."""
    if precision == FP32:
        return {"file": fp32_path.name}
    if precision != "int8":
        raise PrecisionUnavailableError(
            f"ONNX {precision}: ONNX Runtime's CPU provider has no {precision} MatMul/Gemm "
            "kernels; use int8 for ONNX, or a torch format for bf16"
        )
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = fp32_path.with_name(variant_file(fp32_path.name, precision))
    # The quantizer logs a pre-processing hint meant for CNNs on the root logger at
    # WARNING: muted for this call only.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            str(fp32_path),
            str(out),
            op_types_to_quantize=["Gemm", "MatMul"],
            weight_type=QuantType.QInt8,
            # The interaction's batched dot products multiply two activations: kept fp32.
            extra_options={"MatMulConstBOnly": True},
        )
    finally:
        root.setLevel(level)
    return {"file": out.name, "method": "onnxruntime dynamic quantization (int8 weights)"}


def torch_variant(model: Any, precision: str, device: str) -> Any:
    """A callable scoring like `model` at `precision` (torch eager; may be compiled)."""
    import torch

    if precision == FP32:
        return model
    if precision in ("bf16", "fp16"):
        if precision == "fp16" and device != "cuda":
            raise PrecisionUnavailableError(
                "torch fp16 is offered on CUDA only (CPU GEMMs are slow)"
            )
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        return _Autocast(model, device, dtype)
    if device != "cpu":
        raise PrecisionUnavailableError("torch int8 (dynamic quantization) runs on CPU only")
    import warnings

    with warnings.catch_warnings():
        # torch 2.13 marks torch.ao.quantization deprecated in favour of torchao (not a
        # dependency here); it is still the int8 path torch itself ships for CPU.
        warnings.filterwarnings("ignore", "torch.quantize_per_tensor", UserWarning)
        warnings.filterwarnings("ignore", "torch.ao.quantization is deprecated")
        return torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
            copy.deepcopy(model).cpu(), {torch.nn.Linear}, dtype=torch.qint8
        )


class _Autocast:
    """Calls the model under autocast and hands back float32 scores."""

    def __init__(self, model: Any, device: str, dtype: Any) -> None:
        self.model, self.device, self.dtype = model, device, dtype

    def __call__(self, *args: Any) -> Any:
        import torch

        with torch.autocast(self.device, dtype=self.dtype):
            return self.model(*args).float()


def write_variants(
    directory: Path, formats: dict[str, dict[str, Any]], precisions: tuple[str, ...]
) -> None:
    """Add each asked-for precision to each format's manifest entry (in place):
    `precisions[p] = {"file", ...}`, or `unavailable[p] = why` where the format lacks it."""
    for fmt, entry in formats.items():
        for precision in precisions:
            if precision == FP32:
                continue
            try:
                if fmt != "onnx":
                    raise PrecisionUnavailableError(f"{fmt} is exported in fp32 only")
                variant = write_onnx_variant(directory / entry["file"], precision)
            except PrecisionUnavailableError as exc:
                entry.setdefault("unavailable", {})[precision] = str(exc)
                continue
            entry.setdefault("precisions", {})[precision] = variant


def variant_entry(entry: dict[str, Any], precision: str) -> dict[str, Any]:
    """The manifest entry to load `precision` of a format by (fp32: the entry itself)."""
    if precision == FP32:
        return entry
    variants = entry.get("precisions", {})
    if precision not in variants:
        why = entry.get("unavailable", {}).get(precision, "not exported")
        raise PrecisionUnavailableError(f"precision {precision}: {why}")
    return {**entry, **variants[precision]}


def choose_precision(
    fmt: str, entry: dict[str, Any], verify: dict[str, Any] | None, asked: str
) -> tuple[str, str]:
    """The precision to serve `fmt` at, and why. "auto": the variant with the highest
    measured rows/s among those whose accuracy guard passed (fp32 when none ran). A named
    precision is served if the format carries it, unless its guard failed."""
    records = ((verify or {}).get("precisions") or {}).get("variants", {}).get(fmt, {})
    carried = (FP32, *(entry.get("precisions") or {}))
    if asked == "auto":
        passed = [p for p in carried if records.get(p, {}).get("passed")]
        if not passed:
            return FP32, "fp32: no reduced-precision variant with a passed accuracy guard"
        best = max(passed, key=lambda p: float(records[p].get("rows_per_s") or 0.0))
        return best, f"{best}: the fastest variant whose accuracy guard passed"
    if asked not in carried:
        why = (entry.get("unavailable") or {}).get(asked, "not exported")
        raise PrecisionUnavailableError(
            f"{fmt} has no {asked} variant ({why}); carried: {', '.join(carried)}"
        )
    record = records.get(asked)
    if record is not None and not record.get("passed"):
        raise PrecisionUnavailableError(
            f"{fmt} {asked} failed its accuracy guard (auc_delta {record.get('auc_delta')} < "
            f"{AUC_DELTA_MIN}); serve another precision or re-export"
        )
    return asked, f"{asked}: asked for" + ("" if record else " (no accuracy guard ran)")

"""Reduced-precision variants of a model: what each format offers, and how it is made.

fp32 is the exported model itself. The others change only the layers after the lookup:
the MLPs (the arithmetic that bounds a DLRM's speed on CPU) and, in the torch formats,
the interaction's dot products; the ROBE lookup, its hash and its array stay float32,
so indices stay bit-identical to the reference op.

- ONNX int8: ONNX Runtime's own quantization of every Gemm/MatMul with a constant
  weight, which its CPU provider runs as integer GEMMs on VNNI: static (QOperator,
  model_export/onnx_static.py) with activation ranges calibrated on the run's training
  rows, measured 0.93 and 0.96 of the dynamic form's time a 1024-row Kaggle batch in
  two runs; dynamic (uint8 activations quantized per batch) where the run's training
  rows are not readable.
- ONNX bf16: not offered; ONNX Runtime's CPU provider has no bfloat16 MatMul or Gemm
  kernel ("Could not find an implementation", onnxruntime 1.32).
- torch (eager, compiled, TorchScript, AOTInductor): every Linear replaced by its
  reduced-precision statement in plain ATen ops (model_export/reduced.py): bf16 weights
  (oneDNN's AVX-512 BF16 GEMMs on CPU; fp16 the same, on CUDA only), or int8 weights
  with activations quantized by scales calibrated on the run's training rows
  (model_export/calibration.py; per row at run time where there are none), on
  `torch._int_mm` (CPU only); the interaction's dot products in bf16. One module for all
  four runtimes, because torch's own dynamic quantization cannot be exported by
  `torch.export` (its packed weights are opaque objects). The exported torch variants
  are compiled for CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model_export.errors import ExportError

if TYPE_CHECKING:  # calibration imports this module's AUC_DELTA_MIN via accuracy
    from model_export.calibration import Calibration

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


def write_onnx_variant(
    fp32_path: Path, precision: str, external: bool = False, calibration: Calibration | None = None
) -> dict[str, Any]:
    """Write the `precision` variant of the ONNX model beside it; returns its entry.
    `external`: the model keeps its weights in an external data file (plain tables over
    1 GiB), and so does the variant, in its own (`model.int8.onnx.data`). int8 with a
    `calibration` (model_export.calibration.Calibration) holding rows is quantized
    statically (model_export.onnx_static); without one, dynamically."""
    if precision == FP32:
        return {"file": fp32_path.name}
    if precision != "int8":
        raise PrecisionUnavailableError(
            f"ONNX {precision}: ONNX Runtime's CPU provider has no {precision} MatMul/Gemm "
            "kernels; use int8 for ONNX, or a torch format for bf16"
        )
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from model_export.quiet import quantizer_hints_muted

    out = fp32_path.with_name(variant_file(fp32_path.name, precision))
    # the quantizer names the data file after the model file
    data = {"external_data": True, "data_file": out.name + ".data"} if external else {}
    if calibration is not None and calibration.data is not None:
        from model_export.onnx_static import quantize_static_int8

        return quantize_static_int8(fp32_path, out, calibration, external) | data
    with quantizer_hints_muted():
        quantize_dynamic(
            str(fp32_path),
            str(out),
            op_types_to_quantize=["Gemm", "MatMul"],
            weight_type=QuantType.QInt8,
            # The interaction's batched dot products multiply two activations: kept fp32.
            extra_options={"MatMulConstBOnly": True},
            use_external_data_format=external,
        )
    entry = {"file": out.name, "method": "onnxruntime dynamic quantization (int8 weights)"}
    return entry | data


TORCH_FORMATS = ("torchscript", "aoti")
# Writes a torch format at a reduced precision: (format, precision) -> manifest entry.
TorchWriter = Callable[[str, str], dict[str, Any]]


def check_torch_precision(precision: str, device: str) -> None:
    """PrecisionUnavailableError where torch lacks `precision` on `device`."""
    if precision == "fp16" and device != "cuda":
        raise PrecisionUnavailableError("torch fp16 is offered on CUDA only (CPU GEMMs are slow)")
    if precision == "int8" and device != "cpu":
        raise PrecisionUnavailableError("torch int8 (torch._int_mm layers) is offered on CPU only")


def torch_variant(
    model: Any, precision: str, device: str, calibration: Calibration | None = None
) -> Any:
    """A copy of `model` whose Linear layers compute at `precision` (fp32: `model`);
    `calibration` (model_export.calibration.Calibration): int8's static input scales."""
    if precision == FP32:
        return model
    check_torch_precision(precision, device)
    from model_export.reduced import reduced_layers

    return reduced_layers(model, precision, calibration)


def write_variants(
    directory: Path,
    formats: dict[str, dict[str, Any]],
    precisions: tuple[str, ...],
    write_torch: TorchWriter,
    calibration: Calibration | None = None,
) -> None:
    """Add each asked-for precision to each format's manifest entry (in place):
    `precisions[p] = {"file", ...}`, or `unavailable[p] = why` where the format lacks it.
    Torch formats' variants are written by `write_torch`, for CPU; ONNX int8 is
    calibrated by `calibration` where given."""
    for fmt, entry in formats.items():
        for precision in precisions:
            if precision == FP32:
                continue
            try:
                if fmt in TORCH_FORMATS:
                    check_torch_precision(precision, "cpu")
                    variant = write_torch(fmt, precision)
                else:
                    external = bool(entry.get("external_data"))
                    path = directory / entry["file"]
                    variant = write_onnx_variant(path, precision, external, calibration)
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
    # A variant carries its own files: the fp32 entry's CUDA package and external data
    # are not its.
    own = ("precisions", "unavailable", "cuda", "data_file", "external_data")
    base = {k: v for k, v in entry.items() if k not in own}
    return {**base, **variants[precision]}


def choose_precision(
    fmt: str,
    entry: dict[str, Any],
    verify: dict[str, Any] | None,
    asked: str,
    device: str = "cpu",
) -> tuple[str, str]:
    """The precision to serve `fmt` at on `device`, and why. "auto": on the CPU the
    variant with the highest measured rows/s among those whose accuracy guard passed
    (fp32 when none ran); elsewhere fp32, since the variants are built and timed for the
    CPU. A named precision is served if the format carries it, unless its guard failed."""
    records = ((verify or {}).get("precisions") or {}).get("variants", {}).get(fmt, {})
    carried = (FP32, *(entry.get("precisions") or {}))
    if asked == "auto" and device != "cpu":
        return FP32, (
            f"fp32: the reduced-precision variants are built and timed for the CPU, not "
            f"{device} (ask for one with --precision to serve it there)"
        )
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

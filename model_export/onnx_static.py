"""ONNX int8 by ONNX Runtime's static quantization, calibrated on the run's training rows.

Every Gemm (and MatMul with a constant weight) and ReLU of the MLPs becomes an integer
operator (QOperator format: QGemm with uint8 activations and int8 weights per output
channel), so activations stay uint8 from one layer to the next and ReLU folds into the
quantization; the ROBE lookup and the interaction's dot products stay float32. The
activation ranges are ONNX Runtime's percentile calibration at the same quantile as the
torch variants' (model_export.calibration.QUANTILE) over the same training rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from model_export.calibration import QUANTILE, Calibration
from model_export.quiet import quantizer_hints_muted

METHOD = (
    "onnxruntime static quantization (QOperator: int8 weights per channel, uint8 "
    "activations, ranges calibrated on training rows)"
)


def quantize_static_int8(
    fp32_path: Path, out: Path, calibration: Calibration, external: bool
) -> dict[str, Any]:
    """Write the statically quantized int8 model of `fp32_path` to `out`; its entry."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    if calibration.data is None:
        raise ValueError("static int8 needs the calibration rows, not only their ranges")
    graph = onnx.load(str(fp32_path), load_external_data=False).graph
    names = [i.name for i in graph.input]
    weights = {i.name for i in graph.initializer}
    # the MLPs only: the interaction's MatMul multiplies two activations
    nodes = [
        n.name
        for n in graph.node
        if n.op_type in ("Gemm", "Relu") or (n.op_type == "MatMul" and n.input[1] in weights)
    ]

    class Rows(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self, batches: Iterator[tuple[Any, ...]]) -> None:
            self.batches = batches

        def get_next(self) -> dict[str, Any] | None:
            batch = next(self.batches, None)
            return None if batch is None else dict(zip(names, batch, strict=True))

    with quantizer_hints_muted():
        quantize_static(
            str(fp32_path),
            str(out),
            Rows(calibration.data.batches()),
            quant_format=QuantFormat.QOperator,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_quantize=nodes,
            calibrate_method=CalibrationMethod.Percentile,
            use_external_data_format=external,
            extra_options={"MatMulConstBOnly": True, "CalibPercentile": 100 * QUANTILE},
        )
    return {"file": out.name, "method": METHOD, "calibration": calibration.entry()}

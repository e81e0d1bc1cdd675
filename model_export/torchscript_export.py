"""TorchScript: the serving model scripted with the lookup as the registered custom op.

The file refers to `robe::lookup` by name, so whoever loads it must import `robe.ops`
first; an extra file in the archive says so, and `loaders.torchscript_module` turns
torch's "unknown builtin op" into an error naming the package.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from model_export.calibration import Calibration
from model_export.exportable import ExportableModel, index_model
from model_export.loaders import torchscript_module
from model_export.manifest import FORMAT_FILES
from model_export.precision import FP32, variant_file
from model_export.quiet import torch_notices_silenced
from model_export.reduced import reduced_layers, variant_record
from robe.checkpoint import ModelSpec
from robe.model import DLRM

REQUIRES_FILE = "robe_requires"
REQUIRED_PACKAGE = "robe.ops"
_TRACE_BATCH = 3  # any size but 1, so no axis looks constant to the tracer


def export_torchscript(
    model: DLRM,
    spec: ModelSpec,
    directory: Path,
    precision: str = FP32,
    calibration: Calibration | None = None,
) -> dict[str, Any]:
    """Write `model.torchscript.pt` (or its `precision` variant, model_export.reduced)."""
    path = directory / variant_file(FORMAT_FILES["torchscript"], precision)
    serving = ExportableModel(model, "op").eval()
    serving.score = reduced_layers(serving.score, precision, calibration)
    with torch_notices_silenced():
        # The layers after the lookup are traced, not scripted: their shapes are
        # batch-agnostic, and scripting would have to read robe.model's string
        # annotations, which TorchScript cannot resolve.
        example = (
            torch.zeros(_TRACE_BATCH, spec.schema.num_dense),
            torch.zeros(_TRACE_BATCH, serving.num_tables, serving.dim),
        )
        serving.score = torch.jit.trace(serving.score, example)  # type: ignore[no-untyped-call]
        scripted = torch.jit.script(serving)
        torch.jit.save(scripted, str(path), _extra_files={REQUIRES_FILE: REQUIRED_PACKAGE})
    entry = {"file": path.name, "requires": REQUIRED_PACKAGE}
    return entry if precision == FP32 else entry | variant_record(precision, calibration)


def scripted_indices(model: DLRM) -> torch.jit.ScriptModule:
    """The index computation of the TorchScript lookup, through a save/load round trip."""
    indices = index_model(ExportableModel(model, "op")).eval()
    buffer = io.BytesIO()
    with torch_notices_silenced():
        torch.jit.save(torch.jit.script(indices), buffer)
    buffer.seek(0)
    loaded: torch.jit.ScriptModule = torchscript_module(buffer)
    return loaded

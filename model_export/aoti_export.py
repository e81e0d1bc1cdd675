"""AOTInductor: the serving model compiled ahead of time into a `.pt2` package.

The lookup is the plain-torch reference, so the package holds only ATen kernels and
loads with `torch._inductor.aoti_load_package` without a compiler and without
importing robe. A package is compiled for one platform and one torch version; the
manifest records both and `loaders.aoti_package` refuses any other.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.export import Dim

from model_export.calibration import Calibration
from model_export.compat import platform_tag, torch_version
from model_export.errors import ExportError
from model_export.exportable import ExportableModel, index_model
from model_export.manifest import FORMAT_FILES
from model_export.precision import FP32, variant_file
from model_export.quiet import torch_notices_silenced
from model_export.reduced import reduced_layers, variant_record
from robe.checkpoint import ModelSpec
from robe.model import DLRM

CUDA_FILE = "model.cuda.pt2"
_EXAMPLE_BATCH = 7  # any size but 0 or 1, which torch.export would specialise on


def _compile(
    module: nn.Module, example: tuple[torch.Tensor, ...], dynamic: dict[str, Any], path: Path
) -> None:
    with torch_notices_silenced(), torch.no_grad():
        try:
            program = torch.export.export(module, example, dynamic_shapes=dynamic, strict=False)
        except Exception as exc:  # torch.export raises many types; all mean "not exportable"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ExportError(f"torch.export failed for the AOTInductor package: {first}") from exc
        torch._inductor.aoti_compile_and_package(program, package_path=str(path))


def _model_inputs(spec: ModelSpec, device: torch.device) -> tuple[torch.Tensor, ...]:
    tables = spec.schema.num_sparse
    generator = torch.Generator().manual_seed(0)
    dense = torch.randn(_EXAMPLE_BATCH, spec.schema.num_dense, generator=generator)
    values = torch.randint(0, 2**40, (_EXAMPLE_BATCH * tables,), generator=generator)
    offsets = torch.arange(_EXAMPLE_BATCH * tables + 1)
    return dense.to(device), values.to(device), offsets.to(device)


def _model_dynamic(spec: ModelSpec) -> dict[str, Any]:
    batch = Dim("batch", min=1)
    return {
        "dense": {0: batch},
        "values": {0: Dim("values", min=1)},
        "offsets": {0: batch * spec.schema.num_sparse + 1},
    }


def _serving(model: DLRM, precision: str, calibration: Calibration | None) -> nn.Module:
    serving = ExportableModel(model, "reference").eval()
    serving.score = reduced_layers(serving.score, precision, calibration)
    return serving


def export_aoti(
    model: DLRM,
    spec: ModelSpec,
    directory: Path,
    precision: str = FP32,
    calibration: Calibration | None = None,
) -> dict[str, Any]:
    """Write `model.pt2` for the CPU, and `model.cuda.pt2` too where CUDA is present; a
    reduced `precision` (model_export.reduced) is written for the CPU only."""
    entry: dict[str, Any] = {
        "file": variant_file(FORMAT_FILES["aoti"], precision),
        "device": "cpu",
        "platform": platform_tag(),
        "torch": torch_version(),
    }
    cpu = torch.device("cpu")
    serving = _serving(model, precision, calibration)
    _compile(serving, _model_inputs(spec, cpu), _model_dynamic(spec), directory / entry["file"])
    if precision != FP32:
        return entry | variant_record(precision, calibration)
    if torch.cuda.is_available():
        cuda = torch.device("cuda")
        # A copy: moving the serving wrapper would move the trained model's shared layers.
        on_cuda = ExportableModel(copy.deepcopy(model), "reference").eval().to(cuda)
        _compile(
            on_cuda,
            _model_inputs(spec, cuda),
            _model_dynamic(spec),
            directory / CUDA_FILE,
        )
        entry["cuda"] = {"file": CUDA_FILE, "device": "cuda"}
    return entry


def compile_indices(model: DLRM, path: Path) -> None:
    """Compile the index computation of the AOTInductor lookup the same way (parity checks)."""
    indices = index_model(ExportableModel(model, "reference")).eval()
    generator = torch.Generator().manual_seed(0)
    values = torch.randint(0, 2**40, (_EXAMPLE_BATCH * 3,), generator=generator)
    offsets = torch.arange(values.shape[0] + 1)
    dynamic = {
        "values": {0: Dim("values", min=1)},
        "offsets": {0: Dim("bags_plus_one", min=3)},
    }
    _compile(indices, (values, offsets), dynamic, path)

"""`--verify`: the same rows through the eager model and every exported format.

Passing means, for every format, a max absolute score difference within the
tolerance and hash indices identical to the eager op's (`robe::slots`, or the plain
tables' rows). Where ONNX Runtime has its CUDA provider, the ONNX file is checked on
it too ("onnx-cuda"). Rows are random with adversarial keys mixed in: the int64 extremes,
limb boundaries of the hash, the missing-value key, and some bags of 0 to 3 values.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from model_export import loaders
from model_export.aoti_export import compile_indices
from model_export.exportable import eager_indices, eager_scores
from model_export.torchscript_export import scripted_indices
from robe.checkpoint import ModelSpec
from robe.keys import MISSING_KEY
from robe.model import DLRM

MIN_ROWS = 10_000
ONNX_CUDA = "onnx-cuda"  # the ONNX file again, on ONNX Runtime's CUDA provider
TOLERANCE = 1e-5

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
ADVERSARIAL_KEYS = tuple(
    sorted(
        {
            _INT64_MIN,
            _INT64_MIN + 1,
            _INT64_MAX,
            _INT64_MAX - 1,
            0,
            1,
            -1,
            -2,
            MISSING_KEY,
            2**32 - 1,
            2**31 - 1,
            2**31,
            2**53,
            -(2**53),
            2**62,
            -(2**62),
            *(
                sign * (2**bits + delta)
                for bits in (21, 42)
                for delta in (-1, 0, 1)
                for sign in (1, -1)
            ),
        }
    )
)


@dataclass(frozen=True)
class VerifySettings:
    rows: int = MIN_ROWS
    seed: int = 0
    tolerance: float = TOLERANCE

    def __post_init__(self) -> None:
        if self.rows < 1:
            raise ValueError(f"verify rows must be positive, got {self.rows}")
        if not self.tolerance >= 0:
            raise ValueError(f"verify tolerance must be >= 0, got {self.tolerance}")


@dataclass(frozen=True)
class Batch:
    dense: npt.NDArray[np.float32]
    values: npt.NDArray[np.int64]
    offsets: npt.NDArray[np.int64]

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (
            torch.from_numpy(self.dense),
            torch.from_numpy(self.values),
            torch.from_numpy(self.offsets),
        )


def verify_batch(spec: ModelSpec, rows: int, seed: int) -> Batch:
    """`rows` rows: random dense and keys, adversarial keys, and the last tenth multi-valued."""
    rng = np.random.default_rng(seed)
    tables = spec.schema.num_sparse
    dense = rng.standard_normal((rows, spec.schema.num_dense)).astype(np.float32)
    dense[rng.random(rows) < 0.05] = 0.0  # all-missing dense features
    lengths = np.ones(rows * tables, dtype=np.int64)
    multi = rows * tables - (rows // 10) * tables
    lengths[multi:] = rng.integers(0, 4, rows * tables - multi)
    n = int(lengths.sum())
    values = rng.integers(_INT64_MIN, _INT64_MAX, n, dtype=np.int64, endpoint=True)
    kind = rng.random(n)
    small = kind < 0.3  # ids within the table sizes, like real categorical values
    values[small] = rng.integers(0, max(spec.schema.table_sizes), int(small.sum()))
    adversarial = kind > 0.8
    keys = np.asarray(ADVERSARIAL_KEYS, dtype=np.int64)
    values[adversarial] = keys[rng.integers(0, len(keys), int(adversarial.sum()))]
    values[: len(keys)] = keys  # every adversarial key at least once
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return Batch(dense, values, offsets)


def _onnx_cuda() -> bool:
    """Whether ONNX Runtime here has the CUDA provider (onnxruntime-gpu on a GPU machine)."""
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def _index_fns(
    model: DLRM, directory: Path, formats: dict[str, dict[str, Any]], scratch: Path
) -> dict[str, Callable[[Any, Any], Any]]:
    fns: dict[str, Callable[[Any, Any], Any]] = {}
    if "onnx" in formats:
        path = directory / formats["onnx"]["file"]
        fns["onnx"] = loaders.load_onnx_indices(path)
        if _onnx_cuda():
            fns[ONNX_CUDA] = loaders.load_onnx_indices(path, device="cuda")
    if "torchscript" in formats:
        fns["torchscript"] = _torch_index_fn(scripted_indices(model))
    if "aoti" in formats:
        path = scratch / "indices.pt2"
        compile_indices(model, path)
        fns["aoti"] = _torch_index_fn(loaders.aoti_package(path))
    return fns


def _torch_index_fn(module: Callable[..., torch.Tensor]) -> Callable[[Any, Any], Any]:
    def run(values: Any, offsets: Any) -> Any:
        with torch.inference_mode():
            return module(torch.from_numpy(values), torch.from_numpy(offsets)).numpy()

    return run


def _scorers(directory: Path, formats: dict[str, dict[str, Any]]) -> dict[str, loaders.Scorer]:
    out: dict[str, loaders.Scorer] = {}
    for fmt, entry in formats.items():
        out[fmt] = loaders.format_scorer(directory, fmt, entry)
        if fmt == "onnx" and _onnx_cuda():
            out[ONNX_CUDA] = loaders.load_onnx(directory / entry["file"], device="cuda")
    return out


def _compare(
    scores: npt.NDArray[np.float32],
    expected: npt.NDArray[np.float32],
    idx: npt.NDArray[np.int64],
    expected_idx: npt.NDArray[np.int64],
    tolerance: float,
) -> dict[str, Any]:
    finite = bool(np.isfinite(scores).all()) and scores.shape == expected.shape
    diff = float(np.max(np.abs(scores.astype(np.float64) - expected))) if finite else None
    if idx.shape == expected_idx.shape:
        mismatches = int(np.count_nonzero(idx != expected_idx))
    else:
        mismatches = int(expected_idx.size)
    return {
        "max_abs_diff": diff,
        "indices_identical": mismatches == 0,
        "index_mismatches": mismatches,
        "passed": diff is not None and mismatches == 0 and diff <= tolerance,
    }


def verify_formats(
    model: DLRM,
    spec: ModelSpec,
    directory: Path,
    formats: dict[str, dict[str, Any]],
    settings: VerifySettings,
) -> dict[str, Any]:
    """The manifest's "verify" record for the formats written to `directory`."""
    batch = verify_batch(spec, settings.rows, settings.seed)
    dense, values, offsets = batch.tensors()
    expected = eager_scores(model, dense, values, offsets).numpy()
    expected_idx = eager_indices(model, values, offsets).numpy()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="robe-verify-") as scratch:
        index_fns = _index_fns(model, directory, formats, Path(scratch))
        for fmt, scorer in _scorers(directory, formats).items():
            scores = scorer(batch.dense, batch.values, batch.offsets)
            idx = index_fns[fmt](batch.values, batch.offsets)
            results[fmt] = _compare(scores, expected, idx, expected_idx, settings.tolerance)
    return {
        "rows": settings.rows,
        "values": int(batch.values.size),
        "seed": settings.seed,
        "tolerance": settings.tolerance,
        "reference": "eager",
        "indices": "robe::slots" if spec.embedding.kind == "robe" else "table rows",
        "passed": all(r["passed"] for r in results.values()),
        "formats": results,
    }

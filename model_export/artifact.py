"""`robe export`: a checkpoint in, an artifact folder out (DESIGN.md, "Artifact").

The artifact is written into a hidden sibling folder and renamed into place at the
end, so an interrupted export never leaves a half artifact under the asked-for name.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from model_export.accuracy import validation_rows, verify_precisions
from model_export.calibration import Calibration, run_calibration
from model_export.catalog import check_catalog, copy_catalog, default_catalog
from model_export.errors import ArtifactError, ExportError, VerifyError
from model_export.manifest import (
    FORMATS,
    MANIFEST,
    Manifest,
    checksum_files,
    hash_entry,
    load_manifest,
    model_io,
    write_manifest,
)
from model_export.precision import FP32, write_variants
from model_export.verify import VerifySettings, verify_formats
from robe import __version__
from robe.checkpoint import ModelSpec, checkpoint_dir, load_checkpoint
from robe.embeddings import BYTES_PER_PARAM
from robe.model import DLRM

METRICS = "metrics.json"


@dataclass(frozen=True)
class ExportRequest:
    checkpoint: Path
    out: Path
    formats: tuple[str, ...] = FORMATS
    verify: VerifySettings | None = None
    catalog: Path | None = None  # None: the training data's catalog, if there is one
    name: str | None = None  # None: the output folder's name
    force: bool = False
    precisions: tuple[str, ...] = ("fp32",)  # fp32 is always written; others beside it
    verify_data: Path | None = None  # None: the run's validation split

    def __post_init__(self) -> None:
        if not self.formats:
            raise ValueError("--formats is empty: name at least one of " + ",".join(FORMATS))
        for fmt in self.formats:
            if fmt not in FORMATS:
                raise ValueError(f"unknown format {fmt!r}: use any of {','.join(FORMATS)}")


def parse_formats(text: str) -> tuple[str, ...]:
    formats = tuple(dict.fromkeys(f.strip() for f in text.split(",") if f.strip()))
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r} in --formats: use any of {','.join(FORMATS)}")
    return formats


def content_version(model: DLRM, spec: ModelSpec) -> str:
    """First 12 hex digits of a sha256 over the spec and every weight, in name order."""
    digest = hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.numpy().tobytes())
    return digest.hexdigest()[:12]


def read_metrics(checkpoint: Path) -> dict[str, Any]:
    """The run's metrics.json (beside RUN/checkpoint), or {} when there is none."""
    for path in (checkpoint / METRICS, checkpoint_dir(checkpoint).parent / METRICS):
        if path.is_file():
            try:
                raw = json.loads(path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ArtifactError(f"{path}: not valid JSON ({exc})") from exc
            if not isinstance(raw, dict):
                raise ArtifactError(f"{path}: must hold a JSON object")
            return raw
    return {}


def library_versions() -> dict[str, str]:
    out = {"robe": __version__, "python": platform.python_version()}
    for package in ("torch", "onnx", "onnxruntime"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "absent"
    return out


def embedding_entry(spec: ModelSpec) -> dict[str, Any]:
    e = spec.embedding
    return {
        "kind": e.kind,
        "bytes": e.params * BYTES_PER_PARAM,
        "full_equivalent_bytes": e.full_equivalent_params * BYTES_PER_PARAM,
        "compression": e.compression,
    }


def _staging(out: Path, force: bool) -> Path:
    """A fresh hidden folder beside `out`; refuses to overwrite what is not an artifact."""
    if out.exists():
        if not out.is_dir():
            raise ValueError(f"--out {out} exists and is not a folder")
        if any(out.iterdir()):
            if not force:
                raise ValueError(
                    f"--out {out} already exists and is not empty (--force replaces it)"
                )
            if not (out / MANIFEST).is_file():
                raise ValueError(f"--out {out} is not an artifact; refusing to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    return staging


def write_format(
    fmt: str,
    model: DLRM,
    spec: ModelSpec,
    directory: Path,
    precision: str = FP32,
    calibration: Calibration | None = None,
) -> dict[str, Any]:
    """Write one format's file(s) into `directory`; returns its manifest entry. A torch
    format can be written at a reduced `precision` (int8 with `calibration`'s static
    scales where given); ONNX's variants are made from its fp32 file
    (model_export.precision.write_onnx_variant)."""
    if fmt == "onnx":
        if precision != FP32:
            raise ValueError("ONNX variants are quantized from the fp32 file, not exported")
        from model_export.onnx_export import export_onnx

        return export_onnx(model, spec, directory)
    if fmt == "torchscript":
        from model_export.torchscript_export import export_torchscript

        return export_torchscript(model, spec, directory, precision, calibration)
    from model_export.aoti_export import export_aoti

    return export_aoti(model, spec, directory, precision, calibration)


def _write_formats(
    model: DLRM, spec: ModelSpec, directory: Path, formats: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    return {fmt: write_format(fmt, model, spec, directory) for fmt in formats}


def _calibration(
    model: DLRM, spec: ModelSpec, metrics: dict[str, Any], request: ExportRequest
) -> Calibration | None:
    """Static int8 scales from the run's training rows; None (int8 quantizes at run time)
    where int8 is not asked for or the rows are gone."""
    if "int8" not in request.precisions:
        return None
    try:
        return run_calibration(model, spec.schema, metrics)
    except ValueError:
        return None


def _accuracy(
    model: DLRM,
    spec: ModelSpec,
    directory: Path,
    formats: dict[str, dict[str, Any]],
    metrics: dict[str, Any],
    request: ExportRequest,
) -> dict[str, Any]:
    """`verify.precisions`: every variant's validation AUC against eager fp32; where the run
    has no validation rows to score (and no --verify-data), why it was not run."""
    try:
        rows, source = validation_rows(spec.schema, metrics, request.verify_data)
    except ExportError as exc:
        if request.verify_data is not None or len(request.precisions) > 1:
            raise
        return {"skipped": str(exc)}
    return verify_precisions(model, directory, formats, rows, source)


def export_artifact(request: ExportRequest) -> Manifest:
    """Export, verify if asked, write the manifest; VerifyError (artifact kept) on a mismatch."""
    model, spec = load_checkpoint(request.checkpoint)
    metrics = read_metrics(request.checkpoint)
    catalog = request.catalog if request.catalog is not None else default_catalog(metrics)
    if catalog is not None:
        check_catalog(catalog)  # before the minutes of exporting, not after
    staging = _staging(request.out, request.force)
    try:
        formats = _write_formats(model, spec, staging, request.formats)
        calibration = _calibration(model, spec, metrics, request)
        write_variants(
            staging,
            formats,
            request.precisions,
            lambda fmt, precision: write_format(fmt, model, spec, staging, precision, calibration),
            calibration,
        )
        catalog_name = copy_catalog(catalog, staging) if catalog is not None else None
        verify = None
        if request.verify is not None:
            verify = verify_formats(model, spec, staging, formats, request.verify)
            verify["precisions"] = _accuracy(model, spec, staging, formats, metrics, request)
        e = spec.embedding
        inputs, outputs = model_io(spec.schema.num_dense)
        manifest = Manifest(
            directory=staging,
            name=request.name or request.out.resolve().name,
            version=content_version(model, spec),
            created_by=f"robe {__version__}",
            spec=spec.to_dict(),
            hash=hash_entry(e.hash_seed, e.dim, e.chunk, e.robe_size) if e.kind == "robe" else None,
            embedding=embedding_entry(spec),
            metrics=metrics,
            inputs=inputs,
            outputs=outputs,
            formats=formats,
            catalog=catalog_name,
            files=checksum_files(staging),
            versions=library_versions(),
            verify=verify,
        )
        write_manifest(manifest)
        if request.out.exists():
            shutil.rmtree(request.out)
        staging.rename(request.out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    written = load_manifest(request.out)
    if verify is not None and not verify["passed"]:
        failed = [f for f, r in verify["formats"].items() if not r["passed"]]
        raise VerifyError(
            f"{request.out}: verification failed for {', '.join(failed)} (see 'verify' in its "
            "manifest.json)"
        )
    return written

"""Loading a served model: artifact (or checkpoint) -> runtime, layout and catalog.

An artifact folder (`manifest.json`) is read with model_export.manifest, which checks
every checksum; the runtime is the requested backend, or the first format present in
the order of `AUTO_ORDER`. A `.pt2` that does not fit this torch or device falls back
to another format present, saying so. A folder holding a training checkpoint (RUN or
RUN/checkpoint) is served by the eager runtime, with RUN/items.jsonl as its catalog.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robe.errors import RobeError
from robe.schema import Schema
from service.catalog import Catalog
from service.errors import ModelLoadError
from service.rows import FeatureLayout
from service.runtimes.base import Runtime

if TYPE_CHECKING:
    from model_export.manifest import Manifest

log = logging.getLogger("robe.service")

AUTO_ORDER = ("onnx", "torchscript", "aoti")


@dataclass
class ServedModel:
    name: str
    version: str
    path: Path
    runtime: Runtime
    layout: FeatureLayout
    catalog: Catalog
    embedding: str
    embedding_bytes: int
    full_equivalent_bytes: int
    precision: str = "fp32"

    @property
    def schema(self) -> Schema:
        return self.layout.schema

    @property
    def compression(self) -> float:
        return self.full_equivalent_bytes / max(self.embedding_bytes, 1)


def check_model(name: str, path_str: str) -> None:
    """Refuse (ModelLoadError) a path that is no model, or an artifact whose manifest or
    checksums are wrong, without loading it (`robe serve` runs this before binding)."""
    path = _model_path(name, path_str)
    if (path / "manifest.json").is_file():
        _manifest(path)


def load_model(
    name: str,
    path_str: str,
    backend: str,
    device: str,
    threads: int,
    precision: str = "auto",
) -> ServedModel:
    path = _model_path(name, path_str)
    if (path / "manifest.json").is_file():
        return _load_artifact(name, path, backend, device, threads, precision)
    if precision not in ("auto", "fp32"):
        raise ModelLoadError(f"{path}: a training run is served in fp32 only, not {precision}")
    return _load_checkpoint(name, path, backend, device, threads)


def _model_path(name: str, path_str: str) -> Path:
    path = Path(path_str)
    if not path.exists():
        raise ModelLoadError(f"model {name or path_str!r}: {path} does not exist")
    if (path / "manifest.json").is_file():
        return path
    if (path / "checkpoint").is_dir() or (path / "config.json").is_file():
        return path
    raise ModelLoadError(f"{path}: neither an artifact (manifest.json) nor a training run")


def _manifest(path: Path) -> Manifest:
    from model_export.manifest import load_manifest

    try:
        return load_manifest(path)
    except RobeError as exc:
        raise ModelLoadError(str(exc)) from exc


def _load_artifact(
    name: str, path: Path, backend: str, device: str, threads: int, asked: str
) -> ServedModel:
    from model_export.precision import choose_precision, variant_entry

    manifest = _manifest(path)
    layout = FeatureLayout.of(manifest.schema)
    if backend == "eager":
        raise ModelLoadError(f"{path}: the eager backend serves training runs, not artifacts")
    order = [backend] if backend != "auto" else [f for f in AUTO_ORDER if manifest.has_format(f)]
    if backend == "aoti":  # fall back when the package does not fit this machine
        order += [f for f in AUTO_ORDER if f != "aoti" and manifest.has_format(f)]
    runtime: Runtime | None = None
    errors: list[str] = []
    for fmt in order:
        if not manifest.has_format(fmt):
            present = ", ".join(sorted(manifest.formats)) or "none"
            raise ModelLoadError(f"{path}: no {fmt!r} format in the artifact (present: {present})")
        try:
            precision, why = choose_precision(
                fmt, manifest.formats[fmt], manifest.verify, asked, device
            )
        except RobeError as exc:
            raise ModelLoadError(f"{path}: {exc}") from exc
        entry = variant_entry(manifest.formats[fmt], precision)
        try:
            runtime = _make_runtime(fmt, path / entry["file"], device, threads, entry)
            log.info("model %s: %s at %s", name or path, fmt, why)
            break
        except ModelLoadError as exc:
            from service.runtimes.aoti import IncompatiblePackageError

            if not isinstance(exc, IncompatiblePackageError):
                raise
            errors.append(str(exc))
            log.warning("model %s: %s; falling back to another format", name or path, exc)
    if runtime is None:
        raise ModelLoadError(f"{path}: no usable format ({'; '.join(errors) or 'none present'})")
    runtime.key_widths = manifest.schema.key_widths
    catalog_path = manifest.catalog_path
    catalog = Catalog.load(catalog_path, layout) if catalog_path else Catalog.empty(layout)
    return ServedModel(
        name=name or manifest.name,
        version=manifest.version,
        path=path,
        runtime=runtime,
        layout=layout,
        catalog=catalog,
        embedding=manifest.embedding_kind,
        embedding_bytes=manifest.embedding_bytes,
        full_equivalent_bytes=manifest.full_equivalent_bytes,
        precision=precision,
    )


def _make_runtime(
    fmt: str, file: Path, device: str, threads: int, entry: dict[str, Any]
) -> Runtime:
    if fmt == "onnx":
        from service.runtimes.onnx import OnnxRuntime

        return OnnxRuntime(file, device, threads)
    if fmt == "torchscript":
        from service.runtimes.torchscript import TorchScriptRuntime

        return TorchScriptRuntime(file, device, threads)
    if fmt == "aoti":
        from service.runtimes.aoti import AotiRuntime

        return AotiRuntime(file, device, entry, threads)
    raise ModelLoadError(f"unknown backend {fmt!r}")


def _load_checkpoint(name: str, path: Path, backend: str, device: str, threads: int) -> ServedModel:
    if backend not in ("auto", "eager"):
        raise ModelLoadError(f"{path}: a training run is served by the eager backend only")
    from service.runtimes.eager import EagerRuntime

    runtime = EagerRuntime(path, device, threads)
    spec = runtime.spec
    runtime.key_widths = spec.schema.key_widths
    layout = FeatureLayout.of(spec.schema)
    catalog_path = path / "items.jsonl"
    catalog = (
        Catalog.load(catalog_path, layout) if catalog_path.is_file() else Catalog.empty(layout)
    )
    version = "checkpoint"
    metrics = path / "metrics.json"
    if metrics.is_file():
        with contextlib.suppress(json.JSONDecodeError, AttributeError):
            version = str(json.loads(metrics.read_text()).get("version", version))
    emb = spec.embedding
    return ServedModel(
        name=name or path.resolve().name,
        version=version,
        path=path,
        runtime=runtime,
        layout=layout,
        catalog=catalog,
        embedding=emb.kind,
        embedding_bytes=emb.params * 4,
        full_equivalent_bytes=emb.full_equivalent_params * 4,
    )

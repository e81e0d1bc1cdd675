"""`ARTIFACT/manifest.json`: what an artifact holds, and the checks made when loading it.

Only the standard library, numpy and the numpy-only parts of robe are imported here:
the ONNX serving path reads artifacts without torch. The format is fixed by
DESIGN.md ("Artifact"); `load_manifest` refuses anything that does not match it, a
file whose sha256 differs from the manifest included, with an ArtifactError.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from model_export.errors import ArtifactError, ChecksumError, MissingFormatError
from robe.hashing import LIMB_BITS, PRIME, HashParams
from robe.schema import Schema

FORMAT = "robe-artifact"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
# The file each format is written to; the manifest's "formats" records it too.
FORMAT_FILES: dict[str, str] = {
    "onnx": "model.onnx",
    "torchscript": "model.torchscript.pt",
    "aoti": "model.pt2",
}
FORMATS: tuple[str, ...] = tuple(FORMAT_FILES)
EMBEDDING_KINDS = ("robe", "full")

_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class TensorInfo:
    """One named input or output; a str in `shape` is a dynamic axis."""

    name: str
    dtype: str
    shape: tuple[int | str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TensorInfo:
        shape = raw["shape"]
        if not isinstance(shape, list) or not all(isinstance(d, int | str) for d in shape):
            raise ValueError(f"tensor {raw.get('name')!r}: shape must be a list, got {shape!r}")
        return cls(name=str(raw["name"]), dtype=str(raw["dtype"]), shape=tuple(shape))


def model_io(num_dense: int) -> tuple[tuple[TensorInfo, ...], tuple[TensorInfo, ...]]:
    """The inputs and outputs every format of a model with `num_dense` features has."""
    inputs = (
        TensorInfo("dense", "float32", ("batch", num_dense)),
        TensorInfo("values", "int64", ("values",)),
        TensorInfo("offsets", "int64", ("bags_plus_one",)),
    )
    return inputs, (TensorInfo("score", "float32", ("batch",)),)


@dataclass(frozen=True)
class Manifest:
    """The parsed manifest of the artifact in `directory` (see DESIGN.md, "Artifact")."""

    directory: Path
    name: str
    version: str
    created_by: str
    spec: dict[str, Any]  # robe.checkpoint.ModelSpec.to_dict()
    hash: dict[str, Any] | None  # None for plain tables
    embedding: dict[str, Any]  # kind, bytes, full_equivalent_bytes, compression
    metrics: dict[str, Any]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    formats: dict[str, dict[str, Any]]  # format -> {"file": ..., format details}
    catalog: str | None
    files: dict[str, str]  # relative path -> sha256, every file but manifest.json
    versions: dict[str, str]
    verify: dict[str, Any] | None = None
    format_version: int = FORMAT_VERSION
    _schema: Schema | None = field(default=None, repr=False, compare=False)

    @property
    def schema(self) -> Schema:
        if self._schema is not None:
            return self._schema
        return Schema.from_dict(self.spec["schema"])

    @property
    def embedding_kind(self) -> str:
        return str(self.embedding["kind"])

    @property
    def embedding_bytes(self) -> int:
        return int(self.embedding["bytes"])

    @property
    def full_equivalent_bytes(self) -> int:
        return int(self.embedding["full_equivalent_bytes"])

    @property
    def hash_params(self) -> HashParams | None:
        if self.hash is None:
            return None
        rows = tuple(
            (int(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]))
            for r in self.hash["coefficients"]
        )
        return HashParams(table=rows, seed=int(self.hash["seed"]))

    @property
    def catalog_path(self) -> Path | None:
        return None if self.catalog is None else self.directory / self.catalog

    def has_format(self, fmt: str) -> bool:
        return fmt in self.formats

    def file_path(self, fmt: str) -> Path:
        """The model file of `fmt`; MissingFormatError when the artifact lacks it."""
        if fmt not in self.formats:
            present = ", ".join(sorted(self.formats)) or "none"
            raise MissingFormatError(
                f"{self.directory}: artifact has no {fmt!r} format (present: {present})"
            )
        return self.directory / str(self.formats[fmt]["file"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": self.format_version,
            "name": self.name,
            "version": self.version,
            "created_by": self.created_by,
            "spec": self.spec,
            "hash": self.hash,
            "embedding": self.embedding,
            "metrics": self.metrics,
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "formats": self.formats,
            "catalog": self.catalog,
            "files": self.files,
            "versions": self.versions,
            "verify": self.verify,
        }


def hash_entry(seed: int, dim: int, chunk: int, robe_size: int) -> dict[str, Any]:
    """The manifest's "hash" entry: constants, and the full per-chunk coefficient table."""
    params = HashParams.from_seed(dim // chunk, seed)
    return {
        "prime": PRIME,
        "coefficients": [list(row) for row in params.table],  # [chunk][b, a0, a1, a2, a3]
        "seed": seed,
        "chunk": chunk,
        "robe_size": robe_size,
        "limb_bits": list(LIMB_BITS),
    }


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while data := fh.read(_CHUNK_BYTES):
            digest.update(data)
    return digest.hexdigest()


def checksum_files(directory: Path) -> dict[str, str]:
    """sha256 of every file under `directory` except the manifest, by POSIX relative path."""
    out: dict[str, str] = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        rel = path.relative_to(directory).as_posix()
        if rel != MANIFEST:
            out[rel] = sha256_file(path)
    return out


def write_manifest(manifest: Manifest) -> Path:
    """Write `manifest.json` into `manifest.directory` (the checksums must be current)."""
    path = manifest.directory / MANIFEST
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest.to_dict(), indent=2) + "\n")
    tmp.replace(path)  # atomic: a reader never sees half a manifest
    return path


def load_manifest(directory: Path, *, verify_checksums: bool = True) -> Manifest:
    """Read and check `directory/manifest.json`; ArtifactError for anything wrong."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ArtifactError(f"{directory}: no such artifact folder")
    path = directory / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"{directory}: not an artifact (missing {MANIFEST})")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ArtifactError(f"{path}: not a robe artifact manifest (format != {FORMAT!r})")
    if raw.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{path}: artifact format version {raw.get('format_version')!r} is not supported "
            f"(this robe reads version {FORMAT_VERSION})"
        )
    try:
        manifest = _parse(directory, raw)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ArtifactError(f"{path}: malformed manifest ({_describe(exc)})") from exc
    _check_files(manifest, verify_checksums)
    return manifest


def _describe(exc: Exception) -> str:
    return f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)


def _obj(raw: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = raw[key]
    if not isinstance(value, dict):
        raise ValueError(f"{key!r} must be an object, got {type(value).__name__}")
    return value


def _parse(directory: Path, raw: dict[str, Any]) -> Manifest:
    spec = _obj(raw, "spec")
    try:
        schema = Schema.from_dict(_obj(spec, "schema"))
    except ValueError as exc:
        raise ValueError(f"schema: {exc}") from exc
    embedding = _obj(raw, "embedding")
    spec_embedding = _obj(spec, "embedding")
    kind = embedding["kind"]
    if kind not in EMBEDDING_KINDS or spec_embedding.get("kind") != kind:
        raise ValueError(
            f"embedding kind {kind!r} is not one of {EMBEDDING_KINDS} or differs from the spec's"
        )
    if tuple(spec_embedding["table_sizes"]) != schema.table_sizes:
        raise ValueError("schema: sparse feature sizes differ from the embedding's table sizes")
    hash_raw = raw["hash"]
    if kind == "robe":
        if not isinstance(hash_raw, dict):
            raise ValueError("a ROBE artifact needs a 'hash' object")
        _check_hash(hash_raw, spec_embedding)
    elif hash_raw is not None:
        raise ValueError("a plain-table artifact has 'hash': null")
    formats = _obj(raw, "formats")
    for fmt, entry in formats.items():
        if fmt not in FORMAT_FILES:
            raise ValueError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise ValueError(f"format {fmt!r} needs a 'file'")
    files = _obj(raw, "files")
    for rel, digest in files.items():
        _check_relative(rel)
        if not (isinstance(digest, str) and len(digest) == 64):
            raise ValueError(f"files[{rel!r}] is not a sha256 hex digest")
    catalog = raw["catalog"]
    if catalog is not None and not isinstance(catalog, str):
        raise ValueError(f"catalog must be a file name or null, got {catalog!r}")
    verify = raw.get("verify")
    if verify is not None and not isinstance(verify, dict):
        raise ValueError("verify must be an object or null")
    inputs = tuple(TensorInfo.from_dict(t) for t in raw["inputs"])
    outputs = tuple(TensorInfo.from_dict(t) for t in raw["outputs"])
    return Manifest(
        directory=directory,
        name=str(raw["name"]),
        version=str(raw["version"]),
        created_by=str(raw["created_by"]),
        spec=spec,
        hash=hash_raw,
        embedding=embedding,
        metrics=_obj(raw, "metrics"),
        inputs=inputs,
        outputs=outputs,
        formats=formats,
        catalog=catalog,
        files={str(k): str(v) for k, v in files.items()},
        versions={str(k): str(v) for k, v in _obj(raw, "versions").items()},
        verify=verify,
        format_version=int(raw["format_version"]),
        _schema=schema,
    )


def _check_hash(hash_raw: dict[str, Any], spec_embedding: dict[str, Any]) -> None:
    """The recorded constants must be the ones the spec's seed gives (docs/hashing.md)."""
    expected = hash_entry(
        int(spec_embedding["hash_seed"]),
        int(spec_embedding["dim"]),
        int(spec_embedding["chunk"]),
        int(spec_embedding["robe_size"]),
    )
    for key, value in expected.items():
        if hash_raw.get(key) != value:
            raise ValueError(
                f"hash {key} {hash_raw.get(key)!r} does not match the model spec ({value!r})"
            )


def _check_relative(rel: str) -> None:
    """Refuse paths that would reach outside the artifact folder."""
    pure = PurePosixPath(rel)
    if not rel or pure.is_absolute() or ".." in pure.parts or "\\" in rel:
        raise ValueError(f"file path {rel!r} must be relative and inside the artifact")


def _format_files(entry: Mapping[str, Any]) -> list[str]:
    """A format's files: the model, ONNX external data, a CUDA AOTInductor package, and
    its reduced-precision variants."""
    files = [str(entry["file"])]
    for variant in (entry.get("precisions") or {}).values():
        if isinstance(variant, dict) and isinstance(variant.get("file"), str):
            files.append(variant["file"])
        if isinstance(variant, dict) and isinstance(variant.get("data_file"), str):
            files.append(variant["data_file"])
    if isinstance(entry.get("data_file"), str):
        files.append(entry["data_file"])
    cuda = entry.get("cuda")
    if isinstance(cuda, dict) and isinstance(cuda.get("file"), str):
        files.append(cuda["file"])
    return files


def _check_files(manifest: Manifest, verify_checksums: bool) -> None:
    referenced = [rel for entry in manifest.formats.values() for rel in _format_files(entry)]
    if manifest.catalog is not None:
        referenced.append(manifest.catalog)
    for rel in referenced:
        if rel not in manifest.files:
            raise ArtifactError(f"{manifest.directory}: {rel} has no checksum in the manifest")
    for rel, digest in manifest.files.items():
        path = manifest.directory / rel
        if not path.is_file():
            raise ArtifactError(f"{manifest.directory}: missing file {rel}")
        if verify_checksums and sha256_file(path) != digest:
            raise ChecksumError(
                f"{path}: sha256 does not match the manifest (the file is corrupted, "
                "truncated or was replaced)"
            )

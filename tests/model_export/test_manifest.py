"""manifest.json: round trip, and every way a damaged artifact is refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from model_export.errors import ArtifactError, ChecksumError, MissingFormatError
from model_export.manifest import (
    MANIFEST,
    Manifest,
    checksum_files,
    hash_entry,
    load_manifest,
    model_io,
    write_manifest,
)
from robe.hashing import HashParams
from robe.schema import DenseFeature, Schema, SparseFeature

SCHEMA = Schema(
    name="tiny",
    dense=(DenseFeature("d0", "user"), DenseFeature("d1", "item")),
    sparse=(SparseFeature("s0", "user", 50), SparseFeature("s1", "item", 30)),
    dim=8,
)


def _spec(kind: str = "robe") -> dict[str, Any]:
    return {
        "schema": SCHEMA.to_dict(),
        "preset": {"name": "small", "dim": 8, "bottom": [32, 8], "top": [64, 32]},
        "embedding": {
            "kind": kind,
            "dim": 8,
            "table_sizes": [50, 30],
            "robe_size": 64 if kind == "robe" else 0,
            "chunk": 8,
            "hash_seed": 7,
        },
    }


def _artifact(directory: Path, kind: str = "robe") -> Manifest:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.onnx").write_bytes(b"onnx bytes")
    (directory / "items.jsonl").write_text('{"item_id": 1, "features": {}}\n')
    inputs, outputs = model_io(SCHEMA.num_dense)
    manifest = Manifest(
        directory=directory,
        name="tiny",
        version="0123456789ab",
        created_by="0.1.0",
        spec=_spec(kind),
        hash=hash_entry(7, 8, 8, 64) if kind == "robe" else None,
        embedding={"kind": kind, "bytes": 256, "full_equivalent_bytes": 2560, "compression": 10.0},
        metrics={"auc": 0.7},
        inputs=inputs,
        outputs=outputs,
        formats={"onnx": {"file": "model.onnx", "opset": 18, "external_data": False}},
        catalog="items.jsonl",
        files=checksum_files(directory),
        versions={"robe": "0.1.0"},
    )
    write_manifest(manifest)
    return manifest


def _edit(directory: Path, change: Any) -> None:
    raw = json.loads((directory / MANIFEST).read_text())
    change(raw)
    (directory / MANIFEST).write_text(json.dumps(raw))


def test_round_trip(tmp_path: Path) -> None:
    written = _artifact(tmp_path / "a")
    loaded = load_manifest(tmp_path / "a")
    assert loaded == written
    assert loaded.schema == SCHEMA
    assert loaded.hash_params == HashParams.from_seed(1, 7)
    assert loaded.file_path("onnx") == tmp_path / "a" / "model.onnx"
    assert loaded.catalog_path == tmp_path / "a" / "items.jsonl"
    assert [t.name for t in loaded.inputs] == ["dense", "values", "offsets"]
    assert loaded.inputs[0].shape == ("batch", 2)
    assert set(loaded.files) == {"model.onnx", "items.jsonl"}


def test_full_tables_have_no_hash(tmp_path: Path) -> None:
    _artifact(tmp_path / "a", kind="full")
    assert load_manifest(tmp_path / "a").hash_params is None


def test_missing_format_is_named(tmp_path: Path) -> None:
    manifest = _artifact(tmp_path / "a")
    with pytest.raises(MissingFormatError, match=r"no 'aoti' format \(present: onnx\)"):
        manifest.file_path("aoti")


def test_missing_folder_and_manifest(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="no such artifact folder"):
        load_manifest(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArtifactError, match=r"missing manifest\.json"):
        load_manifest(tmp_path / "empty")


def test_invalid_json(tmp_path: Path) -> None:
    _artifact(tmp_path / "a")
    (tmp_path / "a" / MANIFEST).write_text('{"format": ')
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_manifest(tmp_path / "a")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [("format", "other", "not a robe artifact"), ("format_version", 2, "version 2 is not")],
)
def test_wrong_format_or_version(tmp_path: Path, key: str, value: object, message: str) -> None:
    _artifact(tmp_path / "a")
    _edit(tmp_path / "a", lambda raw: raw.__setitem__(key, value))
    with pytest.raises(ArtifactError, match=message):
        load_manifest(tmp_path / "a")


def test_corrupted_file_is_named(tmp_path: Path) -> None:
    _artifact(tmp_path / "a")
    (tmp_path / "a" / "model.onnx").write_bytes(b"onnx byte")  # truncated
    with pytest.raises(ChecksumError, match=r"model\.onnx: sha256 does not match"):
        load_manifest(tmp_path / "a")
    assert load_manifest(tmp_path / "a", verify_checksums=False).name == "tiny"


def test_missing_file_is_named(tmp_path: Path) -> None:
    _artifact(tmp_path / "a")
    (tmp_path / "a" / "items.jsonl").unlink()
    with pytest.raises(ArtifactError, match=r"missing file items\.jsonl"):
        load_manifest(tmp_path / "a")


def test_format_file_without_checksum(tmp_path: Path) -> None:
    _artifact(tmp_path / "a")
    _edit(tmp_path / "a", lambda raw: raw["files"].pop("model.onnx"))
    with pytest.raises(ArtifactError, match=r"model\.onnx has no checksum"):
        load_manifest(tmp_path / "a")


def _set_size(raw: dict[str, Any]) -> None:
    raw["spec"]["schema"]["sparse"][0]["size"] = 51


def _drop_dense(raw: dict[str, Any]) -> None:
    del raw["spec"]["schema"]["dense"]


def _bad_side(raw: dict[str, Any]) -> None:
    raw["spec"]["schema"]["dense"][0]["side"] = "nobody"


def _bad_coeff(raw: dict[str, Any]) -> None:
    raw["hash"]["coefficients"][0][3] += 1


def _escape(raw: dict[str, Any]) -> None:
    raw["files"]["../secret"] = "0" * 64


def _no_hash(raw: dict[str, Any]) -> None:
    raw["hash"] = None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set_size, "sizes differ from the embedding"),
        (_drop_dense, "schema: malformed schema"),
        (_bad_side, "schema: feature side"),
        (_bad_coeff, "hash coefficients .* does not match the model spec"),
        (_escape, "must be relative and inside"),
        (_no_hash, "needs a 'hash' object"),
    ],
)
def test_malformed_manifest(tmp_path: Path, change: Any, message: str) -> None:
    _artifact(tmp_path / "a")
    _edit(tmp_path / "a", change)
    with pytest.raises(ArtifactError, match=message):
        load_manifest(tmp_path / "a")


def test_importable_without_torch(tmp_path: Path) -> None:
    _artifact(tmp_path / "a")
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from model_export.manifest import load_manifest\n"
        f"print(load_manifest(__import__('pathlib').Path({str(tmp_path / 'a')!r})).name)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "tiny"


def test_onnx_external_data_needs_a_checksum(tmp_path: Path) -> None:
    _artifact(tmp_path / "a")

    def add_data_file(raw: dict[str, Any]) -> None:
        raw["formats"]["onnx"]["data_file"] = "model.onnx.data"

    _edit(tmp_path / "a", add_data_file)
    with pytest.raises(ArtifactError, match=r"model\.onnx\.data has no checksum"):
        load_manifest(tmp_path / "a")

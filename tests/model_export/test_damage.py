"""Damaged, truncated, mismatched or missing files: one clear ArtifactError each."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from model_export import loaders
from model_export.errors import (
    ArtifactError,
    ChecksumError,
    IncompatibleArtifactError,
    MissingFormatError,
)
from model_export.manifest import MANIFEST, load_manifest


@pytest.fixture
def artifact(trained_artifact: Path, tmp_path: Path) -> Path:
    """A private copy of the trained artifact, free to damage."""
    return Path(shutil.copytree(trained_artifact, tmp_path / "artifact"))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garble(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[: min(len(data), 4096)] = b"\x07" * min(len(data), 4096)
    path.write_bytes(bytes(data))


LOADERS: dict[str, Callable[[Path], loaders.Scorer]] = {
    "model.onnx": loaders.load_onnx,
    "model.torchscript.pt": loaders.load_torchscript,
    "model.pt2": loaders.load_aoti,
}


@pytest.mark.parametrize("name", sorted(LOADERS))
@pytest.mark.parametrize("damage", [_truncate, _garble])
def test_damaged_file_fails_the_checksum(artifact: Path, name: str, damage) -> None:
    damage(artifact / name)
    with pytest.raises(ChecksumError, match=rf"{name}: sha256 does not match"):
        load_manifest(artifact)


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_truncated_file_is_refused_by_its_loader(artifact: Path, name: str) -> None:
    # Without the manifest's checksums the loader itself must say what is wrong.
    _truncate(artifact / name)
    with pytest.raises(ArtifactError, match=r"not a loadable|not an AOTInductor package") as info:
        LOADERS[name](artifact / name)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["model.onnx", "model.torchscript.pt"])
def test_garbage_file_is_refused_by_its_loader(artifact: Path, name: str) -> None:
    _garble(artifact / name)
    with pytest.raises(ArtifactError, match="not a loadable"):
        LOADERS[name](artifact / name)


def test_missing_file(artifact: Path) -> None:
    (artifact / "model.pt2").unlink()
    with pytest.raises(ArtifactError, match=r"missing file model\.pt2"):
        load_manifest(artifact)
    with pytest.raises(ArtifactError, match="no such model file"):
        loaders.load_aoti(artifact / "model.pt2")


def test_missing_format(artifact: Path) -> None:
    raw = json.loads((artifact / MANIFEST).read_text())
    del raw["formats"]["aoti"]
    (artifact / MANIFEST).write_text(json.dumps(raw))
    manifest = load_manifest(artifact)
    with pytest.raises(MissingFormatError, match="no 'aoti' format"):
        loaders.load_format(manifest, "aoti")


def test_schema_that_does_not_match_the_model(artifact: Path) -> None:
    raw = json.loads((artifact / MANIFEST).read_text())
    raw["spec"]["schema"]["sparse"].pop()
    (artifact / MANIFEST).write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match="sizes differ from the embedding"):
        load_manifest(artifact)


def test_aoti_for_another_platform_or_torch(artifact: Path) -> None:
    raw = json.loads((artifact / MANIFEST).read_text())
    raw["formats"]["aoti"]["torch"] = "2.99.0"
    (artifact / MANIFEST).write_text(json.dumps(raw))
    manifest = load_manifest(artifact)
    with pytest.raises(IncompatibleArtifactError, match=r"with torch 2\.99\.0, but this runtime"):
        loaders.load_format(manifest, "aoti")

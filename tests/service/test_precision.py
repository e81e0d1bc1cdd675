"""`robe serve --precision`: which variant of an artifact is served, and the metric label."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model_export.manifest import MANIFEST
from robe.cli.main import main
from service.errors import ModelLoadError
from service.models import load_model
from tests.model_export.conftest import train_tiny


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("served-precision")
    run, out = train_tiny(root, seed=2), root / "artifact"
    export = ["export", "--checkpoint", str(run), "--out", str(out), "--formats", "onnx"]
    assert main([*export, "--precision", "int8", "--verify"]) == 0
    return out


def _set_guard(artifact: Path, passed: bool) -> None:
    """Mark the int8 guard (the manifest is not checksummed by itself)."""
    manifest = json.loads((artifact / MANIFEST).read_text())
    record = manifest["verify"]["precisions"]["variants"]["onnx"]["int8"]
    record |= {"passed": passed, "auc_delta": 0.0 if passed else -0.01, "rows_per_s": 1e12}
    (artifact / MANIFEST).write_text(json.dumps(manifest))


def test_int8_is_served_by_default_once_its_guard_passed(artifact: Path) -> None:
    _set_guard(artifact, passed=True)
    model = load_model("m", str(artifact), "auto", "cpu", 1, "auto")
    assert model.precision == "int8"
    assert model.runtime.session._model_path.endswith("model.int8.onnx")  # type: ignore[attr-defined]
    fp32 = load_model("m", str(artifact), "onnx", "cpu", 1, "fp32")
    assert fp32.precision == "fp32"
    assert fp32.runtime.session._model_path.endswith("/model.onnx")  # type: ignore[attr-defined]


def test_a_failed_variant_is_never_the_default_and_refused_when_named(artifact: Path) -> None:
    _set_guard(artifact, passed=False)
    assert load_model("m", str(artifact), "auto", "cpu", 1, "auto").precision == "fp32"
    with pytest.raises(ModelLoadError, match="failed its accuracy guard"):
        load_model("m", str(artifact), "auto", "cpu", 1, "int8")

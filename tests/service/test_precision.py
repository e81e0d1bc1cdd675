"""`robe serve --precision`: which variant of an artifact is served, and the metric label."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from model_export.manifest import MANIFEST
from robe.cli.main import main
from service.errors import ModelLoadError
from service.models import load_model
from tests.model_export.conftest import train_tiny


def _export(root: Path, seed: int, fmt: str, precisions: str) -> Path:
    """A tiny trained run exported to `fmt` with `precisions` and their accuracy guard."""
    run, out = train_tiny(root, seed=seed), root / "artifact"
    export = ["export", "--checkpoint", str(run), "--out", str(out), "--formats", fmt]
    assert main([*export, "--precision", precisions, "--verify"]) == 0
    return out


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _export(tmp_path_factory.mktemp("served-precision"), 2, "onnx", "int8")


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


@pytest.fixture(scope="module")
def torchscript_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _export(tmp_path_factory.mktemp("served-torch-precision"), 3, "torchscript", "bf16,int8")


def test_torchscript_serves_its_fastest_passed_variant_and_scores_like_fp32(
    torchscript_artifact: Path,
) -> None:
    manifest = json.loads((torchscript_artifact / MANIFEST).read_text())
    records = manifest["verify"]["precisions"]["variants"]["torchscript"]
    for precision, rate in (("fp32", 1.0), ("bf16", 2.0), ("int8", 3.0)):
        records[precision] |= {"passed": True, "rows_per_s": rate}
    records["int8"] |= {"passed": False, "auc_delta": -0.01}  # the fastest, but failed
    (torchscript_artifact / MANIFEST).write_text(json.dumps(manifest))
    served = load_model("m", str(torchscript_artifact), "torchscript", "cpu", 1, "auto")
    assert served.precision == "bf16" and served.runtime.backend == "torchscript"
    fp32 = load_model("m", str(torchscript_artifact), "torchscript", "cpu", 1, "fp32")
    dense = np.zeros((4, fp32.schema.num_dense), np.float32)
    keys = np.arange(4 * fp32.schema.num_sparse, dtype=np.int64).reshape(4, -1)
    want, got = fp32.runtime.predict(dense, keys), served.runtime.predict(dense, keys)
    assert got.shape == want.shape == (4,)
    assert 0 < np.abs(got - want).max() < 0.05  # bf16 weights: close, not identical
    with pytest.raises(ModelLoadError, match="failed its accuracy guard"):
        load_model("m", str(torchscript_artifact), "torchscript", "cpu", 1, "int8")

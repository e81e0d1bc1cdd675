"""`robe export` end to end: the trained artifact, the plain-table variant, refusals."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import onnx
import pytest

from model_export import artifact, loaders, onnx_export
from model_export.artifact import ExportRequest, content_version, export_artifact
from model_export.errors import ArtifactError, VerifyError
from model_export.loaders import format_scorer
from model_export.manifest import FORMATS, load_manifest
from model_export.precision import variant_entry
from model_export.verify import MIN_ROWS, VerifySettings, verify_batch
from robe.checkpoint import load_checkpoint
from tests.model_export.conftest import CATALOG_LINE, make_run, tiny_spec


def test_trained_model_exports_every_format_and_verifies(trained_artifact: Path) -> None:
    manifest = load_manifest(trained_artifact)
    assert set(manifest.formats) == set(FORMATS)
    assert manifest.name == "artifact"
    assert re.fullmatch(r"[0-9a-f]{12}", manifest.version)
    assert manifest.embedding_kind == "robe"
    assert manifest.full_equivalent_bytes / manifest.embedding_bytes == pytest.approx(10, rel=0.01)
    assert manifest.hash is not None and len(manifest.hash["coefficients"]) == 2  # dim 8 / Z 4
    assert manifest.metrics["auc"] > 0 and Path(manifest.metrics["data"]).is_dir()
    assert manifest.catalog == "items.jsonl"
    data_catalog = Path(manifest.metrics["data"]) / "items.jsonl"
    assert manifest.catalog_path is not None
    assert manifest.catalog_path.read_bytes() == data_catalog.read_bytes()
    assert set(manifest.files) == {"items.jsonl", "model.onnx", "model.torchscript.pt", "model.pt2"}
    assert set(manifest.versions) >= {"robe", "torch", "onnx", "onnxruntime", "python"}
    verify = manifest.verify
    assert verify is not None and verify["passed"] and verify["rows"] >= MIN_ROWS
    for fmt in FORMATS:
        result = verify["formats"][fmt]
        assert result["indices_identical"] and result["index_mismatches"] == 0
        assert result["max_abs_diff"] <= 1e-5


def test_onnx_lookup_is_one_ai_robe_node(trained_artifact: Path) -> None:
    model = onnx.load(str(trained_artifact / "model.onnx"))
    robe_nodes = [n for n in model.graph.node if n.domain == "ai.robe"]
    assert [n.op_type for n in robe_nodes] == ["RobeLookup"]
    assert {f.name for f in model.functions} == {
        "BagIds",
        "RobeSlots",
        "RobeTable",
        "RobeRows",
        "RobeLookup",
    }
    assert [i.name for i in model.graph.input] == ["dense", "values", "offsets"]
    batch = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param == "batch"
    onnx.checker.check_model(str(trained_artifact / "model.onnx"), full_check=True)


def test_large_robe_arrays_gather_row_pairs_not_windows(
    tmp_path: Path, trained_artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows cost Z times the array: above WINDOWS_MAX_BYTES the export gathers row
    pairs instead (2x the array), and still verifies."""
    assert load_manifest(trained_artifact).formats["onnx"]["robe_gather"] == "windows"
    monkeypatch.setattr(onnx_export, "WINDOWS_MAX_BYTES", 0)
    request = ExportRequest(
        make_run(tmp_path), tmp_path / "art", formats=("onnx",), verify=VerifySettings()
    )
    manifest = export_artifact(request)
    assert manifest.formats["onnx"]["robe_gather"] == "pairs"
    assert manifest.verify is not None and manifest.verify["passed"]


def test_version_is_content_derived(tmp_path: Path) -> None:
    model, spec = load_checkpoint(make_run(tmp_path / "a"))
    same, _ = load_checkpoint(make_run(tmp_path / "b"))
    assert content_version(model, spec) == content_version(same, spec)
    other, _ = load_checkpoint(make_run(tmp_path / "c", seed=1))
    assert content_version(model, spec) != content_version(other, spec)


def test_plain_tables_with_external_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The 2 GiB baseline goes the same way; a zero threshold takes that path on a tiny model.
    monkeypatch.setattr(onnx_export, "EXTERNAL_DATA_THRESHOLD", 0)
    run = make_run(tmp_path, "full")
    request = ExportRequest(run, tmp_path / "art", formats=("onnx",), verify=VerifySettings())
    manifest = export_artifact(request)
    assert manifest.formats["onnx"]["external_data"] is True
    assert manifest.hash is None and manifest.embedding_kind == "full"
    assert set(manifest.files) == {"items.jsonl", "model.onnx", "model.onnx.data"}
    assert manifest.verify is not None and manifest.verify["passed"]
    assert manifest.verify["indices"] == "table rows"
    weights = onnx.load(str(tmp_path / "art" / "model.onnx"), load_external_data=False)
    assert any(t.data_location == onnx.TensorProto.EXTERNAL for t in weights.graph.initializer)


def test_int8_of_plain_tables_with_external_data_has_its_own_data_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnx_export, "EXTERNAL_DATA_THRESHOLD", 0)
    run = make_run(tmp_path, "full")
    request = ExportRequest(run, tmp_path / "art", formats=("onnx",), precisions=("fp32", "int8"))
    manifest = export_artifact(request)
    entry = manifest.formats["onnx"]
    assert entry["precisions"]["int8"]["data_file"] == "model.int8.onnx.data"
    # a run without readable training rows to calibrate on: quantized at run time
    assert "dynamic" in entry["precisions"]["int8"]["method"]
    assert "calibration" not in entry["precisions"]["int8"]
    assert {"model.int8.onnx", "model.int8.onnx.data", "model.onnx.data"} <= set(manifest.files)
    batch = verify_batch(tiny_spec("full"), 64, 0)
    fp32 = format_scorer(manifest.directory, "onnx", entry)(
        batch.dense, batch.values, batch.offsets
    )
    variant = variant_entry(entry, "int8")
    int8 = format_scorer(manifest.directory, "onnx", variant)
    assert np.abs(int8(batch.dense, batch.values, batch.offsets) - fp32).max() < 0.05


def test_catalog_explicit_or_none(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    own = tmp_path / "own.jsonl"
    own.write_text(CATALOG_LINE * 2)
    manifest = export_artifact(ExportRequest(run, tmp_path / "a", ("onnx",), catalog=own))
    assert manifest.catalog_path is not None
    assert manifest.catalog_path.read_text() == CATALOG_LINE * 2
    (run / "metrics.json").write_text("{}")
    manifest = export_artifact(ExportRequest(run, tmp_path / "b", ("onnx",), name="m"))
    assert (manifest.catalog, manifest.name, manifest.metrics) == (None, "m", {})
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["catalog"] is None


def test_out_is_not_overwritten_without_force(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    out = tmp_path / "art"
    export_artifact(ExportRequest(run, out, ("onnx",)))
    with pytest.raises(ValueError, match="exists and is not empty"):
        export_artifact(ExportRequest(run, out, ("onnx",)))
    export_artifact(ExportRequest(run, out, ("torchscript",), force=True))
    assert set(load_manifest(out).formats) == {"torchscript"}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="is not an artifact"):
        export_artifact(ExportRequest(run, tmp_path / "precious", ("onnx",), force=True))


def test_verify_mismatch_is_recorded_and_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = loaders.load_onnx

    def off_by_a_little(path: Path, **kwargs: object) -> loaders.Scorer:
        scorer = real(path)
        return lambda d, v, o: scorer(d, v, o) + np.float32(1e-4)

    monkeypatch.setattr(loaders, "load_onnx", off_by_a_little)
    request = ExportRequest(make_run(tmp_path), tmp_path / "art", ("onnx",), VerifySettings())
    with pytest.raises(VerifyError, match="verification failed for onnx"):
        export_artifact(request)
    verify = load_manifest(tmp_path / "art").verify
    assert verify is not None and not verify["passed"]
    assert verify["formats"]["onnx"]["max_abs_diff"] == pytest.approx(1e-4, rel=1e-2)
    assert verify["formats"]["onnx"]["indices_identical"]


def test_bad_catalog_is_refused_before_exporting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_export(*args: object) -> None:
        raise AssertionError("exported before checking the catalog")

    monkeypatch.setattr(artifact, "_write_formats", must_not_export)
    bad = tmp_path / "items.jsonl"
    bad.write_text(CATALOG_LINE + '{"features": {}}\n')
    request = ExportRequest(make_run(tmp_path), tmp_path / "a", ("onnx",), catalog=bad)
    with pytest.raises(ArtifactError, match=r"items\.jsonl:2: an item needs an \"item_id\""):
        export_artifact(request)
    assert not (tmp_path / "a").exists()

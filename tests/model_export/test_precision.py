from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model_export.loaders import format_scorer
from model_export.manifest import load_manifest
from model_export.precision import (
    PrecisionUnavailableError,
    choose_precision,
    parse_precisions,
    variant_entry,
    variant_file,
)
from robe.cli.main import main
from tests.model_export.conftest import train_tiny


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(tmp_path_factory.mktemp("precision"), rows=3000)


def test_precision_names_and_files() -> None:
    assert parse_precisions("int8, fp32,int8") == ("int8", "fp32")
    with pytest.raises(ValueError, match="fp8"):
        parse_precisions("fp8")
    assert variant_file("model.onnx", "int8") == "model.int8.onnx"
    assert variant_file("model.onnx", "fp32") == "model.onnx"


def test_export_carries_int8_onnx_with_its_accuracy_guard(
    trained_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "artifact"
    args = ["export", "--checkpoint", str(trained_run), "--out", str(out), "--formats", "onnx"]
    assert main([*args, "--precision", "int8,bf16", "--verify"]) == 0
    manifest = load_manifest(out)
    onnx = manifest.formats["onnx"]
    assert onnx["precisions"]["int8"]["file"] == "model.int8.onnx"
    # calibrated on the run's training rows (2,700 of 3,000; the last 300 are validation)
    assert "static" in onnx["precisions"]["int8"]["method"]
    assert onnx["precisions"]["int8"]["calibration"]["rows"] == 2700
    assert "model.int8.onnx" in manifest.files
    assert "bf16" in onnx["unavailable"]["bf16"]
    accuracy = manifest.verify["precisions"]  # type: ignore[index]
    assert accuracy["rows"] == 300 and "validation split" in accuracy["source"]
    fp32, int8 = accuracy["variants"]["onnx"]["fp32"], accuracy["variants"]["onnx"]["int8"]
    assert fp32["auc_fp32"] == int8["auc_fp32"] and abs(fp32["auc_delta"]) < 1e-6
    assert 0 < int8["max_abs_diff"] < 0.05 and int8["mean_abs_diff"] <= int8["max_abs_diff"]
    assert int8["passed"] == (int8["auc_delta"] >= -0.001)
    with pytest.raises(PrecisionUnavailableError, match="bf16"):
        variant_entry(onnx, "bf16")
    scorer = format_scorer(out, "onnx", variant_entry(onnx, "int8"))
    assert scorer is not None
    (out / "model.int8.onnx").write_bytes(b"damaged")
    with pytest.raises(Exception, match="sha256"):
        load_manifest(out)


def test_verify_data_without_verify_is_one_clear_error(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["export", "--checkpoint", str(trained_run), "--out", str(tmp_path / "a")]
    assert main([*args, "--verify-data", str(tmp_path)]) == 2
    assert "add --verify" in capsys.readouterr().err


def test_choose_precision_serves_the_fastest_passed_variant_and_refuses_a_failed_one() -> None:
    entry = {"file": "model.onnx", "precisions": {"int8": {"file": "model.int8.onnx"}}}
    entry["unavailable"] = {"bf16": "no bf16 kernels"}

    def verify(int8_passed: bool, int8_rate: float) -> dict[str, object]:
        int8 = {"passed": int8_passed, "auc_delta": -0.01, "rows_per_s": int8_rate}
        fp32 = {"passed": True, "auc_delta": 0.0, "rows_per_s": 100.0}
        return {"precisions": {"variants": {"onnx": {"fp32": fp32, "int8": int8}}}}

    assert choose_precision("onnx", entry, verify(True, 250.0), "auto")[0] == "int8"
    assert choose_precision("onnx", entry, verify(True, 50.0), "auto")[0] == "fp32"
    assert choose_precision("onnx", entry, verify(False, 250.0), "auto")[0] == "fp32"
    assert choose_precision("onnx", entry, None, "auto")[0] == "fp32"  # no guard ran
    with pytest.raises(PrecisionUnavailableError, match="failed its accuracy guard"):
        choose_precision("onnx", entry, verify(False, 250.0), "int8")
    with pytest.raises(PrecisionUnavailableError, match="no bf16 kernels"):
        choose_precision("onnx", entry, verify(True, 250.0), "bf16")
    assert choose_precision("onnx", entry, None, "int8") == (
        "int8",
        "int8: asked for (no accuracy guard ran)",
    )
    # the variants were timed on the CPU: on CUDA auto serves fp32, a named one is served
    precision, why = choose_precision("onnx", entry, verify(True, 250.0), "auto", "cuda")
    assert (precision, "for the CPU, not cuda" in why) == ("fp32", True)
    assert choose_precision("onnx", entry, verify(True, 250.0), "int8", "cuda")[0] == "int8"


@pytest.fixture(scope="module")
def torch_artifact(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("torch-precision") / "artifact"
    args = ["export", "--checkpoint", str(trained_run), "--out", str(out)]
    args += ["--formats", "torchscript,aoti", "--precision", "bf16,int8,fp16", "--verify"]
    assert main(args) == 0
    return out


@pytest.mark.parametrize(
    ("fmt", "files"),
    [
        ("torchscript", {"bf16": "model.bf16.torchscript.pt", "int8": "model.int8.torchscript.pt"}),
        ("aoti", {"bf16": "model.bf16.pt2", "int8": "model.int8.pt2"}),
    ],
)
def test_torch_formats_carry_bf16_and_int8_with_their_guard(
    torch_artifact: Path, fmt: str, files: dict[str, str]
) -> None:
    manifest = load_manifest(torch_artifact)
    entry = manifest.formats[fmt]
    assert {p: v["file"] for p, v in entry["precisions"].items()} == files
    assert set(files.values()) <= set(manifest.files)
    assert "CUDA only" in entry["unavailable"]["fp16"]
    # int8's input scales were calibrated on the run's training rows (2,700 of 3,000)
    int8 = entry["precisions"]["int8"]
    assert "calibrated on training rows" in int8["method"] and "bf16" in int8["method"]
    assert (
        int8["calibration"]["rows"] == 2700 and "first 2700 rows" in int8["calibration"]["source"]
    )
    assert "interaction dot products in bf16" in entry["precisions"]["bf16"]["method"]
    records = manifest.verify["precisions"]["variants"][fmt]  # type: ignore[index]
    assert set(records) == {"fp32", "bf16", "int8"}
    assert abs(records["fp32"]["auc_delta"]) < 1e-6 and records["fp32"]["max_abs_diff"] < 1e-5
    for precision in ("bf16", "int8"):
        record = records[precision]
        # reduced precision moves the scores, a little: neither identical nor far off
        assert 0 < record["max_abs_diff"] < 0.05, record
        assert record["passed"] == (record["auc_delta"] >= -0.001)
        assert record["rows_per_s"] > 0
        scorer = format_scorer(torch_artifact, fmt, variant_entry(entry, precision))
        rows = np.zeros((2, 2), np.float32), np.arange(6, dtype=np.int64), np.arange(7)
        assert scorer(*rows).shape == (2,)

"""`robe export` through the CLI entry point: output, and one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robe.cli.main import main
from tests.model_export.conftest import make_run


def _fails(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert main(["export", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("robe export: error: ") and err.count("\n") == 1, err
    assert message in err


def test_export_prints_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path)
    out = tmp_path / "art"
    assert main(["export", "--checkpoint", str(run), "--out", str(out), "--formats", "onnx"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["name"] == "art" and summary["verify"] is None
    assert summary["files"]["model.onnx"] == (out / "model.onnx").stat().st_size


def test_unknown_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--checkpoint", str(make_run(tmp_path)), "--out", str(tmp_path / "a")]
    _fails(capsys, [*argv, "--formats", "onnx,tflite"], "unknown format 'tflite'")


def test_too_few_verify_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--checkpoint", str(make_run(tmp_path)), "--out", str(tmp_path / "a"), "--verify"]
    _fails(capsys, [*argv, "--verify-rows", "10"], "below the minimum 10000")


def test_missing_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fails(capsys, ["--checkpoint", str(tmp_path), "--out", str(tmp_path / "a")], "no checkpoint")


def test_checkpoint_from_another_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path)
    config = run / "checkpoint" / "config.json"
    raw = json.loads(config.read_text())
    raw["format_version"] = 99
    config.write_text(json.dumps(raw))
    argv = ["--checkpoint", str(run), "--out", str(tmp_path / "a")]
    _fails(capsys, argv, "checkpoint format version 99 is not supported")
    assert not (tmp_path / "a").exists()


def test_truncated_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path)
    weights = run / "checkpoint" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    argv = ["--checkpoint", str(run), "--out", str(tmp_path / "a")]
    _fails(capsys, argv, "damaged or truncated")

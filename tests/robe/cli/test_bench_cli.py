from __future__ import annotations

import json
from pathlib import Path

import pytest

from robe.cli.main import main


def test_bench_lookup_writes_json_and_table_renders_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results" / "lookup.json"
    code = main(
        [
            "bench",
            "lookup",
            "--out",
            str(out),
            "--shapes",
            "criteo-kaggle",
            "--batches",
            "4",
            "--ids",
            "uniform",
            "--passes",
            "forward",
            "--impls",
            "robe-fused,embedding_bag-concat",
            "--repeats",
            "1",
            "--warmup",
            "0",
            "--plain-budget-gb",
            "0.01",
        ]
    )
    assert code == 0
    result = json.loads(out.read_text())
    assert {c["impl"] for c in result["cases"]} == {"robe-fused", "embedding_bag-concat"}
    for case in result["cases"]:
        for key in (
            "impl",
            "device",
            "shape",
            "dim",
            "batch",
            "ids",
            "pass",
            "lookups_per_s",
            "embedding_bytes",
        ):
            assert key in case
    capsys.readouterr()
    assert main(["bench", "table", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| cpu | criteo-kaggle | 16 | forward | 4 | uniform |" in table


def test_unknown_impl_is_one_line_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["bench", "lookup", "--out", str(tmp_path / "x.json"), "--impls", "faiss"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "faiss" in err


def test_table_of_a_file_that_is_not_json_fails_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert main(["bench", "table", str(bad)]) == 2
    assert "not JSON" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("device", "message"), [("gpu", "'gpu' is not cpu or cuda"), ("cuda", "no CUDA device")]
)
def test_service_bench_refuses_a_device_it_cannot_use(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    device: str,
    message: str,
) -> None:
    from service.runtimes import base

    monkeypatch.setattr(base, "cuda_available", lambda: False)
    model = tmp_path / "model"
    model.mkdir()
    args = ["bench", "service", "--model", f"m={model}", "--device", device, "--no-readme"]
    assert main([*args, "--out", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_service_bench_peers_need_onnx_runtime(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model"
    model.mkdir()
    args = ["bench", "service", "--model", f"m={model}", "--runtimes", "torchscript", "--peers"]
    assert main([*args, "--no-readme", "--out", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "add onnx to --runtimes" in err

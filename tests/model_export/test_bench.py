from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from model_export.bench import RUNTIMES, Build, ModelBenchConfig, run
from robe.cli.main import main
from tests.model_export.conftest import train_tiny


def test_robe_eager_forward_is_measured() -> None:
    config = ModelBenchConfig(
        batch=16, embeddings=("robe",), runtimes=("eager",), repeats=1, warmup=0
    )
    result = run(config)
    (case,) = result["cases"]
    assert case["embedding"] == "robe" and case["runtime"] == "eager"
    assert case["preset"] == "kaggle" and case["precision"] == "fp32"
    assert case["rows_per_s"] > 0 and case["embedding_bytes"] < 3_000_000


def test_a_runtime_that_fails_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(build: Build) -> object:
        raise RuntimeError("no compiler here")

    monkeypatch.setitem(RUNTIMES, "broken", broken)
    config = ModelBenchConfig(
        batch=4, embeddings=("robe",), runtimes=("eager", "broken"), repeats=1, warmup=0
    )
    cases = {c["runtime"]: c for c in run(config)["cases"]}
    assert "rows_per_s" in cases["eager"]
    assert "no compiler here" in cases["broken"]["error"]


def test_every_runtime_gets_the_same_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """One thread count for torch and ONNX Runtime alike, recorded per case; ONNX
    Runtime's pool does not spin under OMP_WAIT_POLICY=PASSIVE, as OpenMP's does not."""
    import onnxruntime as ort

    opened: list[tuple[int, str]] = []
    real = ort.InferenceSession

    def session(model: object, options: ort.SessionOptions, **kw: object) -> object:
        spin = options.get_session_config_entry("session.intra_op.allow_spinning")
        opened.append((options.intra_op_num_threads, spin))
        return real(model, options, **kw)

    monkeypatch.setattr(ort, "InferenceSession", session)
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    before = torch.get_num_threads()
    config = ModelBenchConfig(
        batch=4, embeddings=("robe",), runtimes=("eager", "onnx"), repeats=1, warmup=0, threads=1
    )
    result = run(config)
    assert result["threads"] == {"count": 1, "onnxruntime_spinning": False}
    assert [c["threads"] for c in result["cases"]] == [1, 1]
    assert opened == [(1, "0")]
    assert torch.get_num_threads() == before


def test_unknown_runtime_precision_or_preset_is_refused() -> None:
    with pytest.raises(ValueError, match="tensorrt"):
        ModelBenchConfig(runtimes=("tensorrt",))
    with pytest.raises(ValueError, match="fp8"):
        ModelBenchConfig(precisions=("fp8",))
    with pytest.raises(ValueError, match="petabyte"):
        ModelBenchConfig(presets=("petabyte",))


def test_precisions_are_measured_or_skipped_with_the_reason() -> None:
    config = ModelBenchConfig(
        batch=8,
        compression=100_000,
        embeddings=("robe",),
        runtimes=("eager", "onnx", "torchscript"),
        precisions=("fp32", "bf16", "int8", "fp16"),
        repeats=1,
        warmup=0,
    )
    cases = {(c["runtime"], c["precision"]): c for c in run(config)["cases"]}
    torch_runtimes = ("eager", "torchscript")
    for key in [(r, p) for r in torch_runtimes for p in ("fp32", "bf16", "int8")] + [
        ("onnx", "fp32"),
        ("onnx", "int8"),
    ]:
        assert cases[key].get("rows_per_s", 0) > 0, str(cases[key])
    assert "bf16" in cases[("onnx", "bf16")]["skipped"]
    for runtime in torch_runtimes:
        assert "CUDA only" in cases[(runtime, "fp16")]["skipped"]


def test_plain_tables_that_do_not_fit_are_skipped_with_the_memory_needed() -> None:
    config = ModelBenchConfig(
        presets=("terabyte",), embeddings=("full",), runtimes=("eager",), memory_fraction=1e-9
    )
    (case,) = run(config)["cases"]
    assert case["memory_needed_bytes"] > 50 * 2**30  # the MLPerf terabyte tables, fp32
    assert "GiB" in case["skipped"] and "rows_per_s" not in case


def test_a_trained_run_guards_every_variant(tmp_path: Path) -> None:
    run_dir = train_tiny(tmp_path, rows=3000)
    config = ModelBenchConfig(
        presets=("small",),
        embeddings=("robe",),
        runtimes=("eager", "onnx"),
        precisions=("fp32", "int8"),
        checkpoints=(("small", run_dir),),
        batch=64,
        repeats=1,
        warmup=0,
    )
    result = run(config)
    assert json.loads(json.dumps(result))["config"]["checkpoints"] == [["small", str(run_dir)]]
    cases = {(c["runtime"], c["precision"]): c for c in result["cases"]}
    eager = cases[("eager", "fp32")]
    assert eager["auc_delta"] == 0.0 and eager["max_abs_diff"] == 0.0 and eager["passed"]
    assert eager["guard_rows"] == 300  # the run's validation split (a tenth)
    for key in (("onnx", "fp32"), ("onnx", "int8"), ("eager", "int8")):
        case = cases[key]
        assert case["auc_fp32"] == eager["auc"] and abs(case["auc_delta"]) < 0.05, str(case)
    assert cases[("onnx", "int8")]["max_abs_diff"] > cases[("onnx", "fp32")]["max_abs_diff"]
    # torch int8 as `robe export` makes it from this run: scales from its training rows
    scales = cases[("eager", "int8")]["int8_activations"]
    assert scales["scales"] == "static" and scales["rows"] == 2700, scales


def test_bench_model_sets_omp_wait_policy_unless_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    out = tmp_path / "m.json"
    args = ["bench", "model", "--out", str(out), "--batch", "4", "--embeddings", "robe"]
    assert main([*args, "--runtimes", "eager", "--repeats", "1"]) == 0
    omp = json.loads(out.read_text())["machine"]["omp"]
    assert omp["OMP_WAIT_POLICY"] == "PASSIVE" and omp["set_by"] == "robe bench"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert main([*args, "--runtimes", "eager", "--repeats", "1"]) == 0
    omp = json.loads(out.read_text())["machine"]["omp"]
    assert omp == omp | {"OMP_WAIT_POLICY": "ACTIVE", "set_by": "caller", "in_effect": True}

from __future__ import annotations

import pytest

from model_export.bench import RUNTIMES, ModelBenchConfig, run


def test_robe_eager_forward_is_measured() -> None:
    config = ModelBenchConfig(
        batch=16, embeddings=("robe",), runtimes=("eager",), repeats=1, warmup=0
    )
    result = run(config)
    (case,) = result["cases"]
    assert case["embedding"] == "robe" and case["runtime"] == "eager"
    assert case["rows_per_s"] > 0 and case["embedding_bytes"] < 3_000_000


def test_a_runtime_that_fails_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(model: object, spec: object, workdir: object) -> object:
        raise RuntimeError("no compiler here")

    monkeypatch.setitem(RUNTIMES, "broken", broken)
    config = ModelBenchConfig(
        batch=4, embeddings=("robe",), runtimes=("eager", "broken"), repeats=1, warmup=0
    )
    cases = {c["runtime"]: c for c in run(config)["cases"]}
    assert "rows_per_s" in cases["eager"]
    assert "no compiler here" in cases["broken"]["error"]


def test_unknown_runtime_is_refused() -> None:
    with pytest.raises(ValueError, match="tensorrt"):
        ModelBenchConfig(runtimes=("tensorrt",))


def test_exported_formats_are_measured_beside_eager() -> None:
    config = ModelBenchConfig(
        schema="criteo-kaggle",
        preset="kaggle",
        batch=8,
        compression=100_000,
        embeddings=("robe",),
        runtimes=("eager", "onnx", "torchscript"),
        repeats=1,
        warmup=0,
    )
    cases = {c["runtime"]: c for c in run(config)["cases"]}
    for name in ("eager", "onnx", "torchscript"):
        assert cases[name]["rows_per_s"] > 0, cases[name]

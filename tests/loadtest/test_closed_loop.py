"""`robe bench service` logic: ceilings, checks and the README section, on known cases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loadtest.ceilings import checks, limit_rps
from loadtest.closed_loop import summarize
from loadtest.closed_loop_table import BEGIN, END, table, write_table


def case(model: str, batching: bool, concurrency: int, rps: float, p99: float) -> dict[str, Any]:
    return {
        "model": model,
        "runtime": "onnx",
        "device": "cpu",
        "batching": batching,
        "concurrency": concurrency,
        "candidates": 100,
        "rps": rps,
        "p50_ms": p99 / 2,
        "p95_ms": p99 * 0.9,
        "p99_ms": p99,
        "mean_batch_rows": 300.0 if batching else 100.0,
        "requests": 10,
        "errors": 0,
        "server_cpu_ms": 2000 / rps,  # a server spending 2 cores' worth of CPU
    }


CASES = [
    case("floor", False, 64, 2000.0, 5.0),
    case("robe", True, 16, 300.0, 40.0),
    case("robe", True, 64, 400.0, 90.0),
    case("robe", False, 16, 250.0, 30.0),
    case("robe", False, 64, 200.0, 80.0),
]


def test_limit_adds_the_times_of_http_and_the_best_runtime() -> None:
    limit = limit_rps(1000.0, {"robe": {"onnx": 500.0, "torchscript": 250.0}})
    assert limit == {"robe": pytest.approx(1 / (1 / 1000 + 1 / 500))}


def test_checks() -> None:
    (robe,) = checks(CASES, {"robe": 500.0}).values()
    assert robe == {
        "batching_speedup_at_64": 2.0,
        "best_rps": 400.0,
        "best_over_limit": 0.8,
        "best_p99_ms_at_16_batching": 40.0,
    }
    unbatched_only = [c for c in CASES if not c["batching"]]
    assert checks(unbatched_only, {"robe": 500.0})["robe"]["batching_speedup_at_64"] == 0.0


def test_summarize() -> None:
    r = summarize([0.001 * i for i in range(1, 101)], errors=2, window_s=2.0)
    assert r["rps"] == 50.0 and r["requests"] == 100 and r["errors"] == 2
    assert r["p50_ms"] == pytest.approx(50.5)
    assert r["p99_ms"] == pytest.approx(99.01)
    assert summarize([], 0, 1.0)["rps"] == 0.0


RESULT: dict[str, Any] = {
    "machine": {
        "cpu": "Test CPU",
        "cores": 2,
        "platform": "Linux",
        "torch": "2.13.0",
        "onnxruntime": "1.20",
        "load_average_at_start": [1.0, 1.0, 1.0],
    },
    "candidates": 100,
    "seconds_per_case": 3.0,
    "max_batch_rows": 256,
    "max_wait_ms": 2.0,
    "floor_rps": 2000.0,
    "model_rps": {"robe": {"onnx": 500.0}},
    "limit_rps": {"robe": 400.0},
    "cases": CASES,
}


def test_table_rows() -> None:
    lines = table(RESULT).splitlines()
    assert lines[0].startswith("Machine: Test CPU, 2 cores, Linux, torch 2.13.0")
    assert lines[2] == (
        "Floor (HTTP + validation alone): 2000 rps. robe: model alone 500 rps, limit 400 rps"
    )
    assert lines[-1] == (
        "| robe | onnx | off | 64 | 200.0 | 40.00 | 72.00 | 80.00 | 100.0 | 10.00 |"
    )
    assert len(lines) == 6 + len(CASES)


def test_write_table_replaces_its_section_only(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Benchmarks\n\nintro\n\n{BEGIN}\nold table\n{END}\n\nafter\n")
    write_table(readme, RESULT)
    text = readme.read_text()
    assert text.startswith("# Benchmarks\n\nintro\n\n" + BEGIN + "\nMachine: Test CPU")
    assert text.endswith(f"{END}\n\nafter\n") and "old table" not in text
    write_table(readme, RESULT)
    assert readme.read_text() == text


def test_write_table_adds_a_section_when_there_is_none(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Benchmarks\n\nintro\n")
    write_table(readme, RESULT)
    text = readme.read_text()
    assert text.startswith("# Benchmarks\n\nintro\n\n## Service (`robe bench service`)\n\n")
    assert text.count(BEGIN) == 1 and text.endswith(f"{END}\n")

import json
import os
from pathlib import Path

import numpy as np
import pytest

from loadtest import plots, report
from loadtest.report import ModelRun, rps_at_p99_target
from loadtest.runner import RateResult, RunConfig


def point(
    rate: float, latency_ms: float, errors: dict[str, int] | None = None, replies: int = 0
) -> RateResult:
    n = replies or int(rate)  # one second per rate
    lat = np.full(n, latency_ms / 1000)
    if n > 100:
        lat[-1] = 3 * latency_ms / 1000  # a tail sample, beyond the p99
    return RateResult(
        config=RunConfig(rate, 1.0),
        latencies_s=lat,
        errors=errors or {},
        responses={"/recommend": {"200": n}},
        elapsed_s=1.0,
        max_send_lag_s=0.001,
    )


def run(name: str, embedding: str, sweep: tuple[RateResult, ...], size: int, rss: int) -> ModelRun:
    precision = "int8" if embedding == "robe" else "fp32"
    info = {"embedding": embedding, "backend": "onnx", "embedding_bytes": size // 2}
    info["precision"] = precision
    return ModelRun(
        name=name,
        artifact=f"/models/{name}",
        info=info,
        sweep=sweep,
        batch_rows=((1.0, 3), (16.0, 10), (float("inf"), 0)),
        stage_ms={"parse": 0.25, "queue": 1.5, "inference": None, "postprocess": 0.1},
        mean_batch_rows=12.25,
        artifact_bytes=size,
        rss_bytes=rss,
        rss_ready_bytes=rss - 1,
        cold_start_s=1.5,
    )


ROBE = run("robe", "robe", (point(50, 5), point(200, 8), point(400, 80)), 2_000_000, 300_000_000)
FULL = run(
    "full",
    "full",
    (point(50, 4), point(200, 9, {"503": 1}), point(400, 90)),
    2_000_000_000,
    2_500_000_000,
)


def test_rps_at_target_needs_no_errors_and_p99_within():
    assert rps_at_p99_target(ROBE.sweep, 10.0) == pytest.approx(200)
    assert rps_at_p99_target(FULL.sweep, 10.0) == pytest.approx(50)  # 200/s had an error
    assert rps_at_p99_target(ROBE.sweep, 1.0) is None
    # a rate that passes above one that failed does not count
    lucky = (point(50, 5), point(100, 40), point(150, 5))
    assert rps_at_p99_target(lucky, 10.0) == pytest.approx(50)
    assert rps_at_p99_target(lucky[::-1], 10.0) == pytest.approx(50)  # by rate, not order


def test_report_fields_and_comparison(tmp_path: Path):
    r = report.build([ROBE, FULL], 10.0, {"rates": [50, 200, 400]})
    assert set(r) >= {"machine", "p99_target_ms", "models"}
    assert r["machine"]["cpu_cores"] == os.cpu_count()
    for m in r["models"].values():
        assert set(m) >= {
            "rss_bytes",
            "artifact_bytes",
            "cold_start_s",
            "rps_at_p99_target",
            "sweep",
        }
        for p in m["sweep"]:
            assert set(p) >= {"rate", "achieved_rps", "p50_ms", "p99_ms", "errors"}
    assert r["models"]["full"]["sweep"][1]["errors"] == 1
    lines = report.comparison(r)
    assert any("1,000x smaller" in line for line in lines)
    assert any("8.3x smaller" in line and "robe 300.0 MB" in line for line in lines)
    assert any("robe 200.0 req/s, full 50.0 req/s" in line for line in lines)
    assert any("higher than the baseline's at: 50 req/s" in line for line in lines)
    assert any("Precision served" in line and "robe int8, full fp32" in line for line in lines)
    report.write(r, tmp_path)
    assert json.loads((tmp_path / "report.json").read_text()) == json.loads(json.dumps(r))
    md = (tmp_path / "report.md").read_text()
    assert "| 200 | full | 200.0 |" in md and "503: 1" in md
    assert "| robe | robe | onnx | int8 | 1.0 MB |" in md
    assert "| robe | 0.25 | 1.50 | n/a | 0.10 | 12.2 |" in md


def test_slower_robe_is_said():
    slow = run("robe", "robe", (point(50, 50),), 2_000_000, 300_000_000)
    fast = run("full", "full", (point(50, 5),), 2_000_000_000, 2_500_000_000)
    lines = report.comparison(report.build([slow, fast], 20.0, {}))
    assert any("robe none, full 50.0 req/s: ROBE is SLOWER" in line for line in lines)
    assert any("higher than the baseline's at: 50 req/s" in line for line in lines)
    lines = report.comparison(report.build([slow, fast], 1.0, {}))
    assert any("neither model met the target" in line for line in lines)


def test_models_are_compared_by_the_rate_they_sustained():
    """Achieved rates at one step differ by chance; the verdict goes by the step."""
    robe = run("robe", "robe", (point(50, 5), point(200, 8), point(400, 80)), 2_000_000, 1)
    same = (point(50, 5), point(200, 8, replies=201), point(400, 80))  # one reply more
    full = run("full", "full", same, 2_000_000_000, 2)
    lines = report.comparison(report.build([robe, full], 10.0, {}))
    assert any("ROBE sustains as much (both met the target up to 200 req/s" in x for x in lines)
    r = report.build([robe, full], 100.0, {})
    assert r["models"]["robe"]["rate_at_p99_target"] == 400
    assert any("sweep's highest rate" in x for x in report.comparison(r))
    lower = run("full", "full", (point(50, 5), point(200, 80)), 2_000_000_000, 2)
    lines = report.comparison(report.build([robe, lower], 10.0, {}))
    assert any("ROBE sustains more (up to 200 req/s offered, vs 50)" in x for x in lines)
    lines = report.comparison(report.build([lower, robe], 10.0, {}))
    assert not any("SLOWER" in x for x in lines)  # the pair is found by embedding, not order


def test_plots_are_written(tmp_path: Path):
    r = report.build([ROBE, FULL], 10.0, {})
    paths = plots.write(r, tmp_path)
    assert [p.name for p in paths] == list(plots.PLOTS)
    for p in paths:
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000

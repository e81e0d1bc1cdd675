"""The load tools against a real `robe serve` process on a loopback port."""

import asyncio
import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("service.app", reason="the service package (branch `service`) is not here")

from loadtest import scrape
from loadtest.client import Target
from loadtest.discover import discover
from loadtest.runner import RunConfig, encode_calls, run_rate
from loadtest.server import Server, ServerConfig
from loadtest.traffic import Traffic, TrafficConfig
from robe.cli.main import main
from robe.errors import RobeError
from tests.service.conftest import NUM_ITEMS, make_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    run = make_run(tmp_path_factory.mktemp("live-run"), "robe")
    log = tmp_path_factory.mktemp("live-log") / "serve.log"
    config = ServerConfig("tiny", run, extra_args=("--max-batch-rows", "256"), log=log)
    with Server(config) as s:
        yield s


def test_runner_counts_match_robe_requests_total(server: Server):
    features, items = discover(server.url, None)
    assert len(items) == NUM_ITEMS
    traffic = Traffic(
        features, items, TrafficConfig(candidate_sizes=(5, 50), candidate_weights=(1, 1))
    )
    target = Target.parse(server.url)
    requests = encode_calls(target, traffic.calls(200))
    before = scrape.request_counts(scrape.fetch(server.url), "tiny")
    result = asyncio.run(run_rate(target, requests, RunConfig(rate=40, duration_s=2.0)))
    after = scrape.request_counts(scrape.fetch(server.url), "tiny")
    assert result.errors == {}
    assert result.ok == 80
    served = {
        endpoint: {code: n - before.get(endpoint, {}).get(code, 0) for code, n in codes.items()}
        for endpoint, codes in after.items()
        if endpoint in ("/recommend", "/score")
    }
    served = {e: {c: n for c, n in codes.items() if n} for e, codes in served.items()}
    assert served == result.responses
    assert set(result.responses) == {"/recommend", "/score"}
    assert server.rss_bytes() > 50_000_000
    assert server.cold_start_s > 0


@pytest.mark.slow
def test_cli_against_a_running_server(server: Server, tmp_path: Path):
    out = tmp_path / "report"
    argv = ["loadtest", "--url", server.url, "--rates", "10,30", "--duration", "1"]
    assert main([*argv, "--warmup", "0.5", "--out", str(out)]) == 0
    r = json.loads((out / "report.json").read_text())
    model = r["models"]["tiny"]
    assert model["embedding"] == "robe"
    assert [p["rate"] for p in model["sweep"]] == [10.0, 30.0]
    assert all(p["errors"] == 0 and p["p99_ms"] > 0 for p in model["sweep"])
    assert sum(n for _, n in model["batch_rows"]) > 0
    assert model["rss_bytes"] is None  # not our process: not measured
    assert {"latency.png", "batch_sizes.png", "memory.png", "report.md"} <= {
        p.name for p in out.iterdir()
    }


@pytest.mark.slow
def test_locust_headless_has_no_failures(server: Server, tmp_path: Path):
    prefix = tmp_path / "locust"
    cmd = [sys.executable, "-m", "locust", "-f", str(ROOT / "loadtest" / "locustfile.py")]
    cmd += ["--headless", "-u", "8", "-r", "8", "-t", "3s", "--host", server.url]
    cmd += ["--csv", str(prefix), "--only-summary"]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    with (tmp_path / "locust_stats.csv").open() as fh:
        rows = {row["Name"]: row for row in csv.DictReader(fh)}
    assert int(rows["Aggregated"]["Request Count"]) > 0
    assert int(rows["Aggregated"]["Failure Count"]) == 0
    assert (tmp_path / "locust_exceptions.csv").read_text().count("\n") == 1  # header only


@pytest.mark.slow
def test_cli_serves_each_model_in_its_own_process(tmp_path: Path):
    robe = make_run(tmp_path / "robe", "robe")
    full = make_run(tmp_path / "full", "full")
    out = tmp_path / "report"
    argv = ["loadtest", "--serve", f"robe={robe}", "--serve", f"full={full}"]
    argv += ["--rates", "20", "--duration", "1", "--rounds", "2", "--warmup", "0.2", "--no-plots"]
    assert main([*argv, "--p99-target-ms", "1000", "--out", str(out)]) == 0
    r = json.loads((out / "report.json").read_text())
    assert set(r["models"]) == {"robe", "full"}
    for name, m in r["models"].items():
        assert m["embedding"] == name
        assert m["rss_bytes"] >= m["rss_ready_bytes"] > 50_000_000
        assert m["cold_start_s"] > 0 and m["artifact_bytes"] > 0
        assert m["sweep"][0]["errors"] == 0 and m["rps_at_p99_target"] > 0
        assert m["sweep"][0]["scheduled"] == m["sweep"][0]["ok"] == 20  # two rounds of 10
    assert r["models"]["full"]["artifact_bytes"] > r["models"]["robe"]["artifact_bytes"]
    md = (out / "report.md").read_text()
    assert "ROBE's is" in md and "Cold start to ready" in md
    assert (out / "logs" / "robe.log").is_file()


def test_cli_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    argv = ["loadtest", "--serve", "robe=/nowhere", "--rates", "10", "--duration", "1"]
    assert main([*argv, "--out", str(tmp_path)]) == 2
    assert "/nowhere does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["loadtest", "--url", "http://x", "--rates", "0", "--duration", "1", "--out", "o"])


def test_a_server_that_cannot_start_is_one_clear_error(tmp_path: Path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{}")
    with pytest.raises(RobeError, match="exited with status 2 before it was ready"):
        Server(ServerConfig("bad", tmp_path / "bad", log=tmp_path / "bad.log")).start()
    assert (tmp_path / "bad.log").read_text()


def test_closed_loop_against_the_server(server: Server):
    from loadtest.ceilings import payloads
    from loadtest.closed_loop import closed_loop
    from service.models import load_model

    model = load_model("tiny", str(server.config.artifact), "auto", "cpu", 1)
    bodies = payloads(model, candidates=5, n=8)
    before = scrape.request_counts(scrape.fetch(server.url), "tiny").get("/recommend", {})
    r = asyncio.run(
        closed_loop(
            server.url, "/recommend", bodies, 4, 1.0, 0.2, "tiny", server_cpu=server.cpu_seconds
        )
    )
    after = scrape.request_counts(scrape.fetch(server.url), "tiny")["/recommend"]
    assert r["errors"] == 0 and r["requests"] > 0
    # the warm-up's requests reach the server too, but are not counted
    assert 0 < r["requests"] <= after.get("200", 0) - before.get("200", 0)
    assert 0 < r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"]
    # every batch holds at least one whole request of 5 rows, at most max_batch_rows
    assert 5 <= r["mean_batch_rows"] <= 256
    assert r["rps"] == pytest.approx(r["requests"] / 1.0, rel=0.5)
    # the server spent CPU on them (every request parses, scores and answers); so did we
    assert r["server_cpu_ms"] > 0 and r["client_cpu_ms"] > 0

"""The bare FastAPI peer against a real `robe serve`, both on loopback; the comparison.

The Ray Serve peer is not started here: `ray[serve]` is in the `bench` extra, not in
`make setup`, and a local Ray cluster takes about 30 s to start on two cores. `robe
bench service --peers` runs it for real.
"""

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadtest.ceilings import payloads
from loadtest.closed_loop import Case, closed_loop, median_round
from loadtest.closed_loop_table import PEERS_BEGIN, peers_table, write_table
from loadtest.peers import PEERS, comparison
from loadtest.server import Server, ServerConfig
from service.models import load_model
from tests.loadtest.test_closed_loop import case
from tests.service.conftest import export, make_run

FASTAPI = next(p for p in PEERS if p.name == "peer-fastapi")


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = make_run(tmp_path_factory.mktemp("peers-run"), "robe")
    return export(run, tmp_path_factory.mktemp("peers-art") / "robe", ("onnx",))


@pytest.fixture(scope="module")
def robe(artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("peers-log") / "robe.log"
    with Server(ServerConfig("tiny", artifact, log=log)) as s:
        yield s


@pytest.fixture(scope="module")
def peer(artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("peers-log") / "fastapi.log"
    args = ("--name", "tiny")
    with Server(
        ServerConfig("tiny", artifact, extra_args=args, log=log, module=FASTAPI.module)
    ) as s:
        yield s


def post(url: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"{url}/recommend", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_fastapi_peer_answers_as_robe_serve(artifact: Path, robe: Server, peer: Server):
    model = load_model("tiny", str(artifact), "onnx", "cpu", 1)
    bodies = payloads(model, 20, n=4)
    for body in bodies:
        status_robe, ours = post(robe.url, body)
        status_peer, theirs = post(peer.url, body)
        assert status_robe == status_peer == 200
        assert [i["item_id"] for i in theirs["items"]] == [i["item_id"] for i in ours["items"]]
        assert [i["score"] for i in theirs["items"]] == pytest.approx(
            [i["score"] for i in ours["items"]], rel=1e-5
        )
        assert {k: theirs[k] for k in ("model", "model_version", "scored")} == {
            k: ours[k] for k in ("model", "model_version", "scored")
        }


def test_fastapi_peer_refuses_an_unknown_candidate(peer: Server):
    status, body = post(peer.url, json.dumps({"candidates": ["no-such-item"]}).encode())
    assert status == 422
    assert "no-such-item" in json.dumps(body)


def test_the_load_generator_drives_the_peer(artifact: Path, peer: Server):
    model = load_model("tiny", str(artifact), "onnx", "cpu", 1)
    bodies = payloads(model, 20, n=8)
    r = asyncio.run(
        closed_loop(peer.url, "/recommend", bodies, 2, 0.5, 0.2, None, server_cpu=peer.cpu_seconds)
    )
    assert r["requests"] > 0 and r["errors"] == 0
    assert r["mean_batch_rows"] == 0.0  # a peer has no batch metric
    assert r["server_cpu_ms"] > 0  # the peer's process did the work
    # without a server to read, no server CPU is reported
    r = asyncio.run(closed_loop(peer.url, "/recommend", bodies, 1, 0.2, 0.1, None))
    assert r["server_cpu_ms"] == 0.0


def test_median_round() -> None:
    def at(rps: float) -> Case:
        return Case("robe", "onnx", "cpu", True, 16, 100, rps, 1.0, 1.0, 1.0, 0.0, 1, 0)

    assert median_round([at(3.0), at(1.0), at(2.0)]).rps == 2.0
    assert median_round([at(4.0), at(1.0)]).rps == 1.0  # the lower of two
    assert median_round([at(5.0)]).rps == 5.0


def test_comparison_and_its_table() -> None:
    cases = [
        case("robe", True, 1, 500.0, 3.0),
        case("robe", True, 16, 900.0, 40.0),
        case("robe", False, 16, 9000.0, 40.0),  # not robe serve's default: not compared
        case("peer-fastapi", False, 1, 400.0, 3.0),
        case("peer-fastapi", False, 16, 600.0, 30.0),
        case("peer-ray-serve", True, 16, 200.0, 90.0),
    ]
    result = comparison(cases, "robe")
    row1, row16 = result["rows"]
    assert row16["robe_rps"] == 900.0
    assert row16["peer-fastapi"]["robe_over"] == pytest.approx(1.5)
    assert row16["peer-ray-serve"]["robe_over"] == pytest.approx(4.5)
    assert "peer-ray-serve" not in row1
    assert result["checks"] == {
        "c16_over_fastapi_at_least_1.5": True,
        "c16_over_ray_serve_at_least_4": True,
        "c16_p99_at_most_50_ms": True,
        "c1_over_fastapi_at_least_1": True,
    }
    cases[1] = case("robe", True, 16, 800.0, 60.0)
    checks = comparison(cases, "robe")["checks"]
    assert checks["c16_over_fastapi_at_least_1.5"] is False
    assert checks["c16_p99_at_most_50_ms"] is False
    lines = peers_table(result)
    assert lines[-1] == "| 16 | 900.0 (40.0) | 600.0 (30.0) | 1.50x | 200.0 (90.0) | 4.50x |"
    assert lines[-2] == "| 1 | 500.0 (3.0) | 400.0 (3.0) | 1.25x | - | - |"


def test_a_run_with_peers_writes_its_own_section(tmp_path: Path) -> None:
    from tests.loadtest.test_closed_loop import RESULT

    readme = tmp_path / "README.md"
    write_table(readme, RESULT)
    service = readme.read_text()
    cases = [case("robe", True, 16, 900.0, 40.0), case("peer-fastapi", False, 16, 600.0, 30.0)]
    write_table(readme, RESULT | {"cases": cases, "peers": comparison(cases, "robe")})
    text = readme.read_text()
    assert text.startswith(service)  # the service table is left as it was
    assert text.count(PEERS_BEGIN) == 1
    assert "| 16 | 900.0 (40.0) | 600.0 (30.0) | 1.50x |" in text

"""A real server process (`python -m service`): departed clients, SIGTERM drain, CLI errors."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest.drain import load_through_sigterm
from tests.service.conftest import item_id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def post(port: int, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/recommend",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def metric(text: str, name: str, **labels: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items())
    )


def start_server(artifact: Path, log_path: Path, *args: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "service",
                "--model",
                f"robe={artifact}",
                "--port",
                str(port),
                "--log-level",
                "warning",
                *args,
            ],
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if get(port, "/readyz")[0] == 200:
                return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    proc.wait()
    pytest.fail(f"server did not start: {log_path.read_text()[-2000:]}")


@pytest.fixture
def server(onnx_artifact: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    args = ("--max-wait-ms", "300", "--max-batch-rows", "4096", "--drain-s", "0.5")
    proc, port = start_server(onnx_artifact, tmp_path / "server.log", *args)
    yield proc, port
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_departed_client_is_dropped_and_sigterm_drains(
    server: tuple[subprocess.Popen[bytes], int],
) -> None:
    proc, port = server
    # A client that sends a request and leaves while its rows wait for the batch (300 ms).
    body = json.dumps({"candidates": [item_id(1), item_id(2)]}).encode()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"POST /recommend HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        time.sleep(0.05)
    time.sleep(0.6)
    text = get(port, "/metrics")[1]
    assert metric(text, "robe_rejected_requests_total", reason="cancelled") == 1
    assert metric(text, "robe_rows_scored_total", model="robe") == 0

    # Requests in flight when SIGTERM arrives still get their answers; then it exits.
    results: list[int] = []

    def call(i: int) -> None:
        results.append(post(port, {"user": {"I1": i}, "candidates": [item_id(i)]})[0])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.1)  # all queued, waiting for the 300 ms batch
    proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(10)
    assert results == [200] * 8
    assert proc.wait(20) == 0  # drained, not ended by the signal
    with pytest.raises(OSError):
        get(port, "/healthz")


def test_no_request_is_lost_through_sigterm(onnx_artifact: Path, tmp_path: Path) -> None:
    """Clients keep sending through SIGTERM; every request sent on an accepted
    connection is answered, /readyz turns 503 at once, connections are closed by the
    server's responses meanwhile, and the process exits 0."""
    proc, port = start_server(onnx_artifact, tmp_path / "server.log", "--drain-s", "1")
    try:
        body: dict[str, object] = {"user": {"I1": 1}, "candidates": [item_id(i) for i in range(20)]}
        result = load_through_sigterm(proc, port, body, clients=8, warm_s=0.5, timeout_s=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert result.lost == 0, result.errors
    assert result.exit_code == 0
    assert result.readyz_503_s is not None and result.readyz_503_s < 0.5
    assert result.closing >= 8  # every client was told to reconnect while draining
    assert result.ok > 8 and result.refused == 8  # each client stopped at a refused connect


def test_serve_cli_errors(tmp_path: Path) -> None:
    def serve(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "service", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    out = serve("--max-batch-rows", "0", "--model", "x")
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "robe serve: error: --max-batch-rows: Input should be greater than or equal to 1"
    )
    out = serve()
    assert out.returncode == 2 and "give at least one --model" in out.stderr
    out = serve("--model", str(tmp_path / "missing"), "--port", str(free_port()))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == (
        f"robe serve: error: model {str(tmp_path / 'missing')!r}: {tmp_path / 'missing'} "
        "does not exist"
    )

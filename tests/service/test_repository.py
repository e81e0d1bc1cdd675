"""The model repository API on a real server process: auth, a live swap under load, a
refused artifact, unload; and `robe serve` refusing a damaged artifact before it binds."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service.conftest import export, item_id
from tests.service.test_server import free_port, get, metric, post, start_server

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def full_artifact(full_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(full_run, tmp_path_factory.mktemp("art") / "full-onnx", ("onnx",))


@pytest.fixture
def admin_server(
    onnx_artifact: Path, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    args = ("--admin-token", TOKEN, "--drain-s", "0")
    proc, port = start_server(onnx_artifact, tmp_path / "server.log", *args)
    yield proc, port
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def admin(port: int, path: str, body: object = None, token: str | None = TOKEN) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else b""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data, headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_auth(admin_server: tuple[subprocess.Popen[bytes], int]) -> None:
    _, port = admin_server
    code, body = admin(port, "/v2/repository/index", token=None)
    assert code == 401 and body["error"]["type"] == "unauthorized"
    code, body = admin(port, "/v2/repository/index", token="wrong")
    assert code == 403 and body["error"]["type"] == "forbidden"
    code, body = admin(port, "/v2/repository/index")
    assert code == 200
    assert [(m["name"], m["state"]) for m in body] == [("robe", "READY")]


def test_repository_is_off_without_a_token(onnx_artifact: Path, tmp_path: Path) -> None:
    proc, port = start_server(onnx_artifact, tmp_path / "server.log", "--drain-s", "0")
    try:
        assert admin(port, "/v2/repository/index")[0] == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def test_live_swap_under_load(
    admin_server: tuple[subprocess.Popen[bytes], int],
    onnx_artifact: Path,
    full_artifact: Path,
    tmp_path: Path,
) -> None:
    _, port = admin_server
    old = json.loads((onnx_artifact / "manifest.json").read_text())["version"]
    new = json.loads((full_artifact / "manifest.json").read_text())["version"]
    assert old != new
    seen: list[tuple[int, str]] = []
    stop = threading.Event()

    def client(i: int) -> None:
        body: dict[str, object] = {"user": {"I1": i}, "candidates": [item_id(j) for j in range(30)]}
        while not stop.is_set():
            code, out = post(port, body)
            seen.append((code, str(out.get("model_version", out))))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    code, body = admin(
        port, "/v2/repository/models/robe/load", {"parameters": {"path": str(full_artifact)}}
    )
    assert code == 200 and body == {"name": "robe", "version": new, "state": "READY", "reason": ""}
    time.sleep(0.5)

    # a damaged artifact is refused with its reason, and the new model keeps serving
    bad = tmp_path / "bad"
    shutil.copytree(onnx_artifact, bad)
    with (bad / "model.onnx").open("ab") as fh:
        fh.write(b"junk")
    code, body = admin(port, "/v2/repository/models/robe/load", {"parameters": {"path": str(bad)}})
    assert code == 400 and body["error"]["type"] == "artifact_refused"
    assert "sha256" in body["error"]["message"] and "keeps serving" in body["error"]["message"]
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join(30)

    codes = {c for c, _ in seen}
    assert codes == {200}, [s for s in seen if s[0] != 200][:3]
    versions = [v for _, v in seen]
    switch = versions.index(new)
    assert set(versions) == {old, new} and set(versions[:switch]) == {old}
    # only requests accepted before the swap (at most one per client) answer old after it
    assert versions[switch:].count(old) <= len(threads)
    assert versions[-6:] == [new] * 6  # the refused load left the new model serving

    text = get(port, "/metrics")[1]
    assert metric(text, "robe_model_loads_total", model="robe", result="success") == 2
    assert metric(text, "robe_model_loads_total", model="robe", result="failure") == 1
    assert f'version="{new}"' in text and f'version="{old}"' not in text  # robe_model_info

    # unload: 404 for the model, listed as unavailable; a load by name brings it back
    assert admin(port, "/v2/repository/models/robe/unload")[0] == 200
    assert post(port, {"candidates": [item_id(1)]})[0] == 404
    assert get(port, "/readyz")[0] == 503
    code, body = admin(port, "/v2/repository/index")
    assert body == [{"name": "robe", "version": "", "state": "UNAVAILABLE", "reason": "unloaded"}]
    assert admin(port, "/v2/repository/models/robe/load")[0] == 200
    code, out = post(port, {"candidates": [item_id(1)]})
    assert code == 200 and out["model_version"] == new
    assert admin(port, "/v2/repository/models/nope/unload")[0] == 404
    assert admin(port, "/v2/repository/models/bad%20name/load")[0] == 422


def test_serve_refuses_a_damaged_artifact_before_binding(
    onnx_artifact: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(onnx_artifact, bad)
    with (bad / "model.onnx").open("ab") as fh:
        fh.write(b"junk")
    port = free_port()
    out = subprocess.run(
        [sys.executable, "-m", "service", "--model", str(bad), "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("robe serve: error: ") and "sha256" in lines[0]

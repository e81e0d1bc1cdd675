"""Compose's `locust` service, run natively: the Dockerfile's locust stage (its sources at
its WORKDIR, its ENTRYPOINT + CMD) with the web UI, against the live service. A swarm
started through the UI's own API must get answers without failures."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.deploy.build import native_env, run_stage
from tests.deploy.container import DOCKERFILE, Command, free_port
from tests.deploy.dockerfile import Stage, parse, stage

COMPOSE_TARGET = "http://robe:8000"  # the compose service the CMD aims at


def sources_stage() -> Stage:
    """The locust stage from its last WORKDIR on: the sources it copies (the steps
    before install packages, which this venv already has: the dev extra includes them)."""
    locust = stage(parse(DOCKERFILE), "locust")
    keywords = [i.keyword for i in locust.instructions]
    last_workdir = len(keywords) - 1 - keywords[::-1].index("WORKDIR")
    tail = [i for i in locust.instructions[last_workdir:] if i.keyword in {"WORKDIR", "COPY"}]
    return Stage(name="locust-sources", base=locust.base, instructions=tail)


def ui(url: str, path: str, form: dict[str, str] | None = None) -> Any:
    data = None if form is None else urllib.parse.urlencode(form).encode()
    with urllib.request.urlopen(f"{url}{path}", data=data, timeout=10) as r:
        return json.loads(r.read())


def test_locust_web_ui_drives_the_service(dev_service: Command, tmp_path: Path) -> None:
    workdir = tmp_path / "opt-robe"
    run_stage(sources_stage(), {"/opt/robe": workdir}, {}, native_env(Path(sys.executable).parent))
    locust = stage(parse(DOCKERFILE), "locust")
    web_port = free_port()
    argv = locust.last("ENTRYPOINT").exec_form() + locust.last("CMD").exec_form()
    argv = [dev_service.url if a == COMPOSE_TARGET else a for a in argv]
    argv[argv.index("--web-port") + 1] = str(web_port)
    exe = Path(sys.executable).parent / argv[0]
    assert exe.is_file(), "locust is not installed: the `loadtest` extra (make setup)"
    argv[0] = str(exe)
    log = tmp_path / "locust.log"
    url = f"http://127.0.0.1:{web_port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            cwd=workdir,
            env=native_env(Path(sys.executable).parent),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not _up(url):
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        started = ui(url, "/swarm", {"user_count": "2", "spawn_rate": "2"})
        assert started["success"], started
        deadline = time.monotonic() + 30
        while True:
            stats = ui(url, "/stats/requests")
            total = next(s for s in stats["stats"] if s["name"] == "Aggregated")
            if total["num_requests"] >= 5 or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert total["num_requests"] >= 5, (stats, log.read_text()[-3000:])
        assert total["num_failures"] == 0, stats["errors"]
        assert {s["name"] for s in stats["stats"]} & {"/recommend", "/score"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False

"""A real Prometheus (Debian's package) running the repository's scrape config.

The config is deploy/prometheus/prometheus.yml with one change: the compose service
address `robe:8000` becomes the live service's loopback address. Storage is a temporary
folder and the server listens on a free loopback port, so a system Prometheus already
running on :9090 does not matter.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.container import REPO, free_port

CONFIG = REPO / "deploy/prometheus/prometheus.yml"
SERVICE_TARGET = "robe:8000"  # the compose service and its container port


def render_config(service_port: int) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    found = 0
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            targets = static["targets"]
            found += targets.count(SERVICE_TARGET)
            static["targets"] = [
                f"127.0.0.1:{service_port}" if t == SERVICE_TARGET else t for t in targets
            ]
    assert found == 1, f"{CONFIG} should scrape {SERVICE_TARGET} once, found {found}"
    return config


@dataclass(frozen=True)
class Prometheus:
    url: str
    config: dict[str, Any]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector; fails on a PromQL error."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.loads(r.read())
        assert body["status"] == "success", f"{expr}: {body}"
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def scrape_interval_s(self) -> float:
        text = str(self.config["global"]["scrape_interval"])
        assert text.endswith("s") and text[:-1].isdigit(), f"unexpected interval {text}"
        return float(text[:-1])


def prometheus_binary() -> str:
    exe = shutil.which("prometheus")
    assert exe is not None, "prometheus is not installed: run deploy/install-prometheus.sh"
    return exe


@contextmanager
def start_prometheus(workdir: Path, service_port: int) -> Iterator[Prometheus]:
    config = render_config(service_port)
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    port = free_port()
    log = workdir / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                prometheus_binary(),
                f"--config.file={config_path}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    prom = Prometheus(f"http://127.0.0.1:{port}", config)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"prometheus exited:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{prom.url}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"prometheus not ready:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield prom
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(
    prom: Prometheus, expr: str, expected: float, timeout_s: float
) -> list[dict[str, Any]]:
    """Poll until the query's single sample equals `expected`; return the last result."""
    deadline = time.monotonic() + timeout_s
    result: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        result = prom.query(expr)
        if len(result) == 1 and float(result[0]["value"][1]) == expected:
            return result
        time.sleep(0.5)
    raise AssertionError(f"{expr}: expected {expected}, Prometheus has {result}")

"""Session fixtures: the image's demo models built natively, the image's command serving
them from the development venv, and a real Prometheus scraping that service."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.container import REPO, Command, free_port, image_command, running
from tests.deploy.prometheus import Prometheus, start_prometheus

# Enough rows for both models to train and export; the image uses the script's default.
DEMO_ROWS = 3000


@pytest.fixture(scope="session")
def demo_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """deploy/build-demo-models.sh, as the Dockerfile's models stage runs it."""
    out = tmp_path_factory.mktemp("models")
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [str(REPO / "deploy/build-demo-models.sh"), str(out), str(DEMO_ROWS)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def dev_service(demo_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Command]:
    """The image's ENTRYPOINT + CMD + ENV, run from this venv (the repository's code)."""
    venv = Path(sys.prefix)
    command = image_command(
        {"venv": venv, "models": demo_models}, free_port(), {"PYTHONPATH": str(REPO)}
    )
    workdir = tmp_path_factory.mktemp("dev-service")
    with running(command, workdir / "server.log", workdir) as live:
        yield live


@pytest.fixture(scope="session")
def prometheus(
    dev_service: Command, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    """Debian's prometheus with deploy/prometheus/prometheus.yml, robe:8000 -> the service."""
    with start_prometheus(tmp_path_factory.mktemp("prometheus"), dev_service.port) as prom:
        yield prom

"""The image's HEALTHCHECK command, run natively against the live service and a dead port."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.deploy.container import Command, free_port, healthcheck_command


def run(check: Command) -> int:
    return subprocess.run(check.argv, env=check.env, timeout=30, check=False).returncode


def test_healthcheck_passes_on_a_live_service(dev_service: Command, demo_models: Path) -> None:
    stages = {"venv": Path(sys.prefix), "models": demo_models}
    assert run(healthcheck_command(stages, dev_service.port)) == 0


def test_healthcheck_fails_when_nothing_answers(demo_models: Path) -> None:
    stages = {"venv": Path(sys.prefix), "models": demo_models}
    assert run(healthcheck_command(stages, free_port())) == 1

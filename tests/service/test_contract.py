"""The OpenAPI document against the live server: schemathesis with every check.

A bounded run (a few hundred generated cases, well under a minute) against a real
`python -m service` process (every route but the v2 inference ones, service/v2.py):
no schema-valid request refused, no schema-violating one accepted, every response as
documented (status, content type, body), no server error (503/504 are documented
answers: see schemathesis.toml).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.service.test_server import start_server

CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.mark.skipif(
    shutil.which("st", path=str(Path(sys.executable).parent)) is None,
    reason="schemathesis (the dev extra) is not installed",
)
def test_openapi_contract(onnx_artifact: Path, tmp_path: Path) -> None:
    proc, port = start_server(onnx_artifact, tmp_path / "server.log", "--drain-s", "0")
    try:
        out = subprocess.run(
            [
                str(Path(sys.executable).parent / "st"),
                "--config-file",
                str(CONFIG),
                "run",
                f"http://127.0.0.1:{port}/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                "40",
                "--seed",
                "1",
                # The Open Inference Protocol v2 inference routes (service/v2.py) are not in
                # this contract yet: their tensor bodies are documented loosely.
                "--exclude-path-regex",
                "^/v2/models/",
                "--report-dir",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
            cwd=tmp_path,
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    summary = out.stdout[-6000:]
    assert out.returncode == 0, summary
    cases = re.search(r"(\d+) generated", summary)
    assert cases is not None and int(cases.group(1)) >= 200, summary  # a few hundred cases

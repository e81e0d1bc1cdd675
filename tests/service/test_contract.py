"""The OpenAPI document against the live server: schemathesis with every check, every path.

A bounded run (well under a minute) against a real `python -m service` process with
the repository API on: every operation of the document (the service's own API, the
Open Inference Protocol v2 routes, the repository API without its token: 401/403), no
schema-valid request refused, no schema-violating one accepted, every response as
documented (status, content type, headers, body), no server error (503/504 are
documented answers: see schemathesis.toml). Deterministic (schemathesis's
deterministic generation: the same cases every run, no example database), so it
cannot flake. The row limit is small so that the document states the
v2 tensors exactly with few branches (one per row count: service.openapi_v2).
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
ST = Path(sys.executable).parent / "st"


def run_contract(port: int, out_dir: Path, max_examples: int) -> tuple[int, str]:
    """schemathesis over the whole document; its exit status and summary."""
    out = subprocess.run(
        [
            str(ST),
            "--config-file",
            str(CONFIG),
            "run",
            f"http://127.0.0.1:{port}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            str(max_examples),
            "--generation-deterministic",  # the same cases every run (no seed, no database)
            "--report-dir",
            str(out_dir),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=out_dir,
    )
    return out.returncode, out.stdout[-8000:]


@pytest.mark.skipif(
    shutil.which("st", path=str(ST.parent)) is None,
    reason="schemathesis (the dev extra) is not installed",
)
def test_openapi_contract(onnx_artifact: Path, tmp_path: Path) -> None:
    proc, port = start_server(
        onnx_artifact,
        tmp_path / "server.log",
        "--drain-s",
        "0",
        "--admin-token",
        "contract-test-token",  # the repository routes exist; schemathesis never has it
        "--max-request-rows",
        "2",
    )
    try:
        code, summary = run_contract(port, tmp_path, max_examples=10)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert code == 0, summary
    selected = re.search(r"Selected: (\d+)/(\d+)", summary)
    tested = re.search(r"Tested: (\d+)", summary)
    assert selected and tested, summary
    # every operation of the document, the 9 v2 model routes and 3 repository ones among them
    assert selected.group(1) == selected.group(2) == tested.group(1), summary
    assert int(tested.group(1)) >= 18, summary
    cases = re.search(r"(\d+) generated, \1 passed", summary)
    assert cases is not None and int(cases.group(1)) >= 200, summary

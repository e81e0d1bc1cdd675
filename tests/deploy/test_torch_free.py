"""The serving image has no torch: the `robe` CLI and the ONNX serving path must import
without it. A fast guard; test_container.py proves it in a real torch-free venv."""

from __future__ import annotations

import subprocess
import sys

from tests.deploy.container import REPO

# torch (and the modules that only exist with it) made unimportable, as in the image
BLOCK = "import sys\nfor name in ('torch', 'triton'):\n    sys.modules[name] = None\n"


def run_without_torch(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK + code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_parser_builds_without_torch() -> None:
    done = run_without_torch(
        "from robe.cli.main import build_parser\n"
        "args = build_parser().parse_args(['serve', '--model', 'a=/m'])\n"
        "assert args.command == 'serve'\n"
    )
    assert done.returncode == 0, done.stderr


def test_onnx_serving_path_imports_without_torch() -> None:
    done = run_without_torch("import service.app, service.runtimes.onnx, model_export.manifest\n")
    assert done.returncode == 0, done.stderr


def test_blocking_torch_is_effective() -> None:
    done = run_without_torch("import robe.model\n")
    assert done.returncode != 0 and "torch" in done.stderr

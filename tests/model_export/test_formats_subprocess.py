"""Each format loaded in a fresh process, as a server would, and compared with eager."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model_export.exportable import eager_scores
from model_export.verify import verify_batch
from robe.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]

# Scores `fmt` of the artifact on the saved rows, in a process that imported nothing else.
SCORE = """
import sys
from pathlib import Path
import numpy as np
{prelude}
from model_export.manifest import load_manifest
from model_export.loaders import load_format
artifact, rows, fmt = Path(sys.argv[1]), np.load(sys.argv[2]), sys.argv[3]
scores = load_format(load_manifest(artifact), fmt)(rows["dense"], rows["values"], rows["offsets"])
np.save(sys.argv[4], scores)
{check}
"""


def _run(
    code: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", code, *args],
        capture_output=True,
        text=True,
        check=False,
        env={**base, **(env or {})},
    )


@pytest.fixture(scope="module")
def rows(
    trained_artifact: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, np.ndarray]:
    """1,000 verification rows on disk, and the eager model's scores for them."""
    model, spec = load_checkpoint(trained_artifact.parent / "run")
    batch = verify_batch(spec, 1000, seed=5)
    path = tmp_path_factory.mktemp("rows") / "rows.npz"
    np.savez(path, dense=batch.dense, values=batch.values, offsets=batch.offsets)
    return path, eager_scores(model, *batch.tensors()).numpy()


@pytest.mark.parametrize(
    ("fmt", "prelude", "check", "env"),
    [
        # ONNX needs neither torch nor robe's op.
        ("onnx", "sys.modules['torch'] = None", "", {}),
        # TorchScript runs through robe.ops, and no torch deprecation notice escapes (-W error).
        ("torchscript", "", "assert 'robe.ops' in sys.modules", {}),
        # AOTInductor: no compiler on PATH, and robe's op is never registered.
        (
            "aoti",
            "",
            "assert 'robe.ops' not in sys.modules",
            {"PATH": "/nonexistent", "CXX": "false"},
        ),
    ],
)
def test_format_in_fresh_process_matches_eager(
    trained_artifact: Path,
    rows: tuple[Path, np.ndarray],
    tmp_path: Path,
    fmt: str,
    prelude: str,
    check: str,
    env: dict[str, str],
) -> None:
    path, expected = rows
    out = tmp_path / "scores.npy"
    code = SCORE.format(prelude=prelude, check=check)
    done = _run(code, str(trained_artifact), str(path), fmt, str(out), env=env)
    assert done.returncode == 0, done.stderr
    np.testing.assert_allclose(np.load(out), expected, rtol=0, atol=1e-5)


def test_torchscript_without_the_op_names_the_package(trained_artifact: Path) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from model_export.errors import ArtifactError\n"
        "from model_export.loaders import load_torchscript\n"
        "try:\n"
        "    load_torchscript(Path(sys.argv[1]), import_ops=False)\n"
        "except ArtifactError as exc:\n"
        "    print(exc)\n"
    )
    done = _run(code, str(trained_artifact / "model.torchscript.pt"))
    assert done.returncode == 0, done.stderr
    assert "robe::lookup" in done.stdout and "import robe.ops" in done.stdout

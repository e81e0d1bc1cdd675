"""The serving image, built and run natively: the Dockerfile's wheel and venv stages run
their own RUN lines into temporary folders (the same wheel, a fresh venv with the `serve`
extra and no torch), then the image's exact ENTRYPOINT + CMD serves the demo ONNX models."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.build import map_paths, native_env, run_stage
from tests.deploy.container import (
    DOCKERFILE,
    Command,
    free_port,
    healthcheck_command,
    http,
    image_command,
    running,
)
from tests.deploy.dockerfile import parse, stage

pytestmark = pytest.mark.slow
STAGES = parse(DOCKERFILE)


@pytest.fixture(scope="session")
def serving_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `wheel` and `venv` stages, run natively; returns the venv (/opt/venv)."""
    root = tmp_path_factory.mktemp("image")
    paths = {p: root / p.strip("/").replace("/", "-") for p in ("/src", "/wheels", "/build")}
    paths["/opt/venv"] = root / "venv"
    env = native_env(Path(sys.executable).parent)  # pip and python3 of this machine
    log = root / "build.log"
    run_stage(stage(STAGES, "wheel"), paths, {}, env, log=log)
    (wheel,) = paths["/wheels"].glob("robe_serve-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        top = {name.split("/")[0] for name in archive.namelist()}
    assert {"robe", "service", "model_export", "loadtest"} <= top and "tests" not in top
    run_stage(
        stage(STAGES, "venv"), paths, {"wheel": paths["/wheels"]}, env, {"VARIANT": "cpu"}, log
    )
    assert map_paths("/opt/venv/bin/pip", paths) == f"{root / 'venv'}/bin/pip"
    return paths["/opt/venv"]


def venv_python(venv: Path, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = native_env(venv / "bin")
    return subprocess.run(
        [str(venv / "bin/python"), "-c", code], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_serving_venv_runs_the_wheel_without_torch(serving_venv: Path, tmp_path: Path) -> None:
    no_torch = venv_python(serving_venv, "import torch", tmp_path)
    assert no_torch.returncode != 0 and "No module named 'torch'" in no_torch.stderr
    where = venv_python(
        serving_venv, "import robe, service, onnxruntime; print(robe.__file__)", tmp_path
    )
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(serving_venv)  # the wheel, not the repo


@pytest.fixture(scope="module")
def container(
    serving_venv: Path, demo_models: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Command]:
    """`docker run -p PORT:8000 robe-serve`: ENTRYPOINT + CMD + ENV from the Dockerfile."""
    command = image_command({"venv": serving_venv, "models": demo_models}, free_port())
    assert command.argv[0] == str(serving_venv / "bin/robe")
    workdir = tmp_path_factory.mktemp("container")
    with running(command, workdir / "server.log", workdir) as live:
        yield live


def test_container_answers_healthz_and_recommend(container: Command) -> None:
    status, body = http("GET", f"{container.url}/healthz")
    assert status == 200, body
    status, models = http("GET", f"{container.url}/v1/models")
    assert status == 200 and isinstance(models, dict)
    served = {m["name"]: m for m in models["models"]}
    assert set(served) == {"robe", "full"}
    assert {m["backend"] for m in served.values()} == {"onnx"}
    assert {m["embedding"] for m in served.values()} == {"robe", "full"}
    for name in served:
        status, body = http(
            "POST", f"{container.url}/recommend", {"user": {}, "k": 5, "model": name}
        )
        assert status == 200, body
        assert isinstance(body, dict) and body["model"] == name
        scores = [item["score"] for item in body["items"]]
        assert len(scores) == 5 and scores == sorted(scores, reverse=True)


def test_container_healthcheck_passes(
    container: Command, serving_venv: Path, demo_models: Path
) -> None:
    check = healthcheck_command({"venv": serving_venv, "models": demo_models}, container.port)
    assert check.argv[0] == str(serving_venv / "bin/python")
    assert subprocess.run(check.argv, env=check.env, timeout=30, check=False).returncode == 0

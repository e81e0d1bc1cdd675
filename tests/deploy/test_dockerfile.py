"""The Dockerfile's promises that can be read off it: stages, user, entrypoint, layers,
build context. What its commands do is proven by running them (test_container.py)."""

from __future__ import annotations

import fnmatch
import json
import shlex
import tomllib
from pathlib import Path

from tests.deploy.container import DOCKERFILE, REPO
from tests.deploy.dockerfile import Stage, parse, stage

STAGES = parse(DOCKERFILE)
SERVE = STAGES[-1]


def test_stages_and_variants() -> None:
    assert [s.name for s in STAGES] == [
        "base-cpu",
        "base-cuda",
        "wheel",
        "models",
        "venv",
        "locust",
        "serve",
    ]
    head = [line for line in DOCKERFILE.read_text().splitlines() if line.startswith("ARG ")]
    assert "ARG VARIANT=cpu" in head  # CPU unless --build-arg VARIANT=cuda
    cuda_image = next(a for a in head if a.startswith("ARG CUDA_IMAGE="))
    assert cuda_image.startswith("ARG CUDA_IMAGE=nvidia/cuda:") and "-runtime-" in cuda_image
    for name in ("venv", "serve"):
        assert stage(STAGES, name).base == "base-${VARIANT}"
    venv_run = stage(STAGES, "venv").all("RUN")[0].args
    assert 'serve --variant "${VARIANT}"' in venv_run


def test_runs_as_a_numeric_non_root_user_made_in_the_image() -> None:
    user = SERVE.last("USER").args
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid != "0"
    useradd = next(r.args for r in SERVE.all("RUN") if r.args.startswith("useradd"))
    assert f"--uid {uid}" in useradd
    keywords = [i.keyword for i in SERVE.instructions]
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k in {"RUN", "COPY"})


def test_entrypoint_and_healthcheck_are_exec_form() -> None:
    assert SERVE.last("ENTRYPOINT").exec_form() == ["robe", "serve"]
    python, script = SERVE.last("HEALTHCHECK").exec_form()
    assert python == "python"
    copied = {dest: sources for origin, sources, dest in SERVE.copies() if origin is None}
    assert copied[script] == ["deploy/healthcheck.py"]


def test_cmd_serves_the_models_the_models_stage_builds(demo_models: Path) -> None:
    """The models stage runs build-demo-models.sh into /models; CMD names its outputs."""
    models_run = stage(STAGES, "models").last("RUN").args
    assert shlex.split(models_run)[:2] == ["./build-demo-models.sh", "/models"]
    assert [(o, d) for o, _, d in SERVE.copies() if o == "models"] == [("models", "/models")]
    cmd = SERVE.last("CMD").exec_form()
    served = [cmd[i + 1] for i, word in enumerate(cmd) if word == "--model"]
    assert len(served) == 2  # ROBE and the plain-table baseline, side by side
    embeddings = set()
    for entry in served:
        name, path = entry.split("=", 1)
        assert path.startswith("/models/")
        artifact = demo_models / path.removeprefix("/models/")
        manifest = json.loads((artifact / "manifest.json").read_text())
        assert (artifact / "model.onnx").is_file()
        embeddings.add(manifest["embedding"]["kind"])
        assert name == artifact.name
    assert embeddings == {"robe", "full"}


def test_serving_stage_takes_only_the_venv_and_the_artifacts() -> None:
    """torch is installed in the models stage only; serve copies /opt/venv and /models."""
    from_stages = {(o, tuple(s), d) for o, s, d in SERVE.copies() if o is not None}
    assert from_stages == {
        ("venv", ("/opt/venv",), "/opt/venv"),
        ("models", ("/models",), "/models"),
    }
    # the venv gets the `serve` requirements (test_requirements: no torch) and the wheel
    # without its dependencies, nothing else
    installs = [
        part
        for run in stage(STAGES, "venv").all("RUN")
        for part in run.args.split("&&")
        if "pip install" in part
    ]
    assert len(installs) == 2
    assert "--requirement requirements.txt" in installs[0] and "--no-deps" in installs[1]
    assert SERVE.env()["ROBE_BACKEND"] == "onnx"


def test_dependencies_are_layered_before_the_code() -> None:
    """A code change must not re-download dependencies (torch above all)."""
    for name in ("venv", "models"):
        keywords = [(i.keyword, i.args) for i in stage(STAGES, name).instructions]
        wheel_copy = keywords.index(("COPY", "--from=wheel /wheels /wheels"))
        deps = [i for i, (k, a) in enumerate(keywords) if k == "RUN" and "--requirement" in a]
        assert deps and max(deps) < wheel_copy, name


def _pyproject_packages() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["packages"]["find"]["include"]
    return {
        p.name
        for p in REPO.iterdir()
        if (p / "__init__.py").is_file() and any(fnmatch.fnmatch(p.name, pat) for pat in patterns)
    }


def test_wheel_stage_copies_every_package_of_the_wheel() -> None:
    wheel: Stage = stage(STAGES, "wheel")
    copied = {s for o, sources, _ in wheel.copies() if o is None for s in sources}
    assert _pyproject_packages() | {"pyproject.toml", "README.md"} == copied
    assert wheel.last("RUN").args.startswith("pip wheel --no-cache-dir --no-deps")


def test_dockerignore_admits_exactly_what_the_dockerfile_copies() -> None:
    """An allow-list: no data (the Criteo sample may not ship), runs or venvs in context."""
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = {s for st in STAGES for o, sources, _ in st.copies() if o is None for s in sources}
    assert allowed == copied

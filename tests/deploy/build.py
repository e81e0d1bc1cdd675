"""Run a Dockerfile stage's build steps natively: WORKDIR, ARG, COPY and RUN, in order,
with the image's absolute paths mapped to local directories.

This is how the tests prove what `docker build` would do on a machine without a Docker
engine: the RUN lines executed are the Dockerfile's own text, not a copy of it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

from tests.deploy.dockerfile import Stage

REPO = Path(__file__).resolve().parents[2]
# what .dockerignore keeps out of the build context inside the allowed folders
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


def map_paths(text: str, paths: dict[str, Path]) -> str:
    """Replace each image path where it stands as a whole path (not inside a word)."""
    for image_path in sorted(paths, key=len, reverse=True):
        pattern = rf"(?<![\w./-]){re.escape(image_path)}(?![\w.-])"
        text = re.sub(pattern, str(paths[image_path]).replace("\\", "/"), text)
    return text


def run_stage(
    stage: Stage,
    paths: dict[str, Path],
    stage_dirs: dict[str, Path],
    env: dict[str, str],
    args: dict[str, str] | None = None,
    log: Path | None = None,
) -> None:
    """Execute the stage. `paths` maps image paths (WORKDIR, COPY and RUN targets) to
    local ones; `stage_dirs` gives the local output of stages it COPYs --from."""
    workdir: Path | None = None
    run_env = dict(env)
    for ins in stage.instructions:
        if ins.keyword == "WORKDIR":
            workdir = Path(map_paths(ins.args, paths))
            workdir.mkdir(parents=True, exist_ok=True)
        elif ins.keyword == "ARG":
            name, _, default = ins.args.partition("=")
            run_env[name] = (args or {}).get(name, default or run_env.get(name, ""))
        elif ins.keyword == "COPY":
            _copy(shlex.split(ins.args), workdir, paths, stage_dirs)
        elif ins.keyword == "RUN":
            command = map_paths(ins.args, paths)
            done = subprocess.run(
                ["sh", "-ec", command],
                cwd=workdir,
                env=run_env,
                capture_output=True,
                text=True,
                check=False,
            )
            if log is not None:
                with log.open("a") as out:
                    out.write(f"$ {command}\n{done.stdout}{done.stderr}\n")
            if done.returncode != 0:
                raise AssertionError(
                    f"RUN failed ({done.returncode}): {command}\n{done.stderr[-3000:]}"
                )
        elif ins.keyword not in {"LABEL", "ENV"}:
            raise AssertionError(f"stage {stage.name}: cannot run {ins.keyword} natively")


def _copy(
    words: list[str], workdir: Path | None, paths: dict[str, Path], stage_dirs: dict[str, Path]
) -> None:
    source_stage = next((w.split("=", 1)[1] for w in words if w.startswith("--from=")), None)
    sources, dest_text = [w for w in words if not w.startswith("--")][:-1], words[-1]
    if dest_text.startswith("/"):
        dest = Path(map_paths(dest_text, paths))
    else:
        assert workdir is not None, f"relative COPY destination {dest_text} without WORKDIR"
        dest = workdir / dest_text
    if source_stage is not None:
        # a stage's output is one local directory: the path it was built at in the image
        assert len(sources) == 1, f"COPY --from={source_stage} of several paths"
    for source in sources:
        origin = REPO / source if source_stage is None else stage_dirs[source_stage]
        target = dest / origin.name if dest_text.endswith("/") else dest
        if origin.resolve() == target.resolve():
            continue  # the stage was built where this one reads it
        if origin.is_dir():
            shutil.copytree(origin, target, ignore=_IGNORED, dirs_exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target)


def native_env(extra_path: Path) -> dict[str, str]:
    """The environment a build step gets: this machine's, with `extra_path` first on
    PATH and nothing that would let the repository's sources shadow what was installed."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env["PATH"] = f"{extra_path}{os.pathsep}{env['PATH']}"
    return env

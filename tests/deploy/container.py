"""Run the serving image's command natively: the Dockerfile's ENTRYPOINT, CMD and ENV,
with the image's paths mapped to local ones, as `docker run -p PORT:8000` would.

Paths the final stage COPYs from other stages (/opt/venv, /models) map to the local
directories given for those stages; files it COPYs from the build context map to the
repository's; the port and bind address are the settings ROBE_PORT and ROBE_HOST.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.deploy.dockerfile import Stage, parse

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serving_stage() -> Stage:
    return parse(DOCKERFILE)[-1]


def path_map(stage: Stage, stage_dirs: dict[str, Path]) -> dict[str, str]:
    """Image path -> local path, for everything the stage COPYs."""
    out: dict[str, str] = {}
    for source_stage, sources, dest in stage.copies():
        if source_stage is None:
            assert len(sources) == 1, f"COPY of several files to {dest}"
            out[dest] = str(REPO / sources[0])
        else:
            out[dest] = str(stage_dirs[source_stage])
    return out


def _mapped(value: str, paths: dict[str, str]) -> str:
    # longest image path first, so /opt/venv/bin maps inside /opt/venv
    for image_path in sorted(paths, key=len, reverse=True):
        value = value.replace(image_path, paths[image_path])
    return value


@dataclass(frozen=True)
class Command:
    argv: list[str]
    env: dict[str, str]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def image_command(
    stage_dirs: dict[str, Path], port: int, extra_env: dict[str, str] | None = None
) -> Command:
    """ENTRYPOINT + CMD with the stage's ENV, mapped onto this machine."""
    stage = serving_stage()
    paths = path_map(stage, stage_dirs)
    # nothing from this shell that the container would not have: no ROBE_ settings, and no
    # PYTHONPATH that would let the repository's sources stand in for the installed wheel
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ROBE_") and k not in {"PYTHONPATH", "VIRTUAL_ENV"}
    }
    for key, value in stage.env().items():
        env[key] = _mapped(value, paths).replace("${PATH}", os.environ["PATH"])
    env.update({"ROBE_HOST": "127.0.0.1", "ROBE_PORT": str(port)}, **(extra_env or {}))
    argv = [_mapped(a, paths) for a in stage.last("ENTRYPOINT").exec_form()]
    argv += [_mapped(a, paths) for a in stage.last("CMD").exec_form()]
    exe = shutil.which(argv[0], path=env["PATH"])
    assert exe is not None, f"{argv[0]} is not on the image's PATH {env['PATH']}"
    return Command([exe, *argv[1:]], env, port)


def healthcheck_command(stage_dirs: dict[str, Path], port: int) -> Command:
    """The HEALTHCHECK's CMD, run the same way."""
    stage = serving_stage()
    paths = path_map(stage, stage_dirs)
    env = image_command(stage_dirs, port).env
    argv = [_mapped(a, paths) for a in stage.last("HEALTHCHECK").exec_form()]
    exe = shutil.which(argv[0], path=env["PATH"])
    assert exe is not None, f"{argv[0]} is not on the image's PATH"
    return Command([exe, *argv[1:]], env, port)


def http(
    method: str, url: str, body: Any = None, timeout: float = 10.0
) -> tuple[int, dict[str, Any] | str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            status, raw = r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:  # an error response is a response too: close it
            status, raw = exc.code, exc.read().decode()
    try:
        return status, json.loads(raw)
    except json.JSONDecodeError:
        return status, raw


@contextmanager
def running(command: Command, log: Path, cwd: Path, ready_s: float = 120.0) -> Iterator[Command]:
    """Start the command, wait for /readyz, stop it with SIGTERM (as `docker stop`)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command.argv, env=command.env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + ready_s
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"server exited {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if http("GET", f"{command.url}/readyz", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"not ready in {ready_s}s:\n{log.read_text()[-3000:]}")
            time.sleep(0.25)
        yield command
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

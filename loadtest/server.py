"""One `robe serve` process per model: cold start to ready, resident memory, clean stop.

Each model runs in its own process so that its resident set is its own: the
interpreter, torch or ONNX Runtime, the weights and the catalog, nothing of the other
model. Cold start is the wall time from spawning the process to the first 200 of
`/readyz` (imports, load, checksum, warm-up of every batch size).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import psutil

from robe.errors import RobeError


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class ServerConfig:
    name: str
    artifact: Path
    port: int = 0  # 0: a free loopback port
    extra_args: tuple[str, ...] = ()
    ready_timeout_s: float = 600.0
    log: Path | None = None  # the server's stdout and stderr; None: discarded
    env: dict[str, str] = field(default_factory=dict)
    # a peer's module (`python -m MODULE --artifact A --port P ...`) instead of robe serve
    module: str | None = None


class Server:
    """`with Server(config) as s:` starts `robe serve` (or a peer, `config.module`) and
    waits until its /readyz answers 200."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.port = config.port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cold_start_s = 0.0
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        c = self.config
        cmd = self._robe_serve() if c.module is None else self._peer(c.module)
        out = c.log.open("ab") if c.log is not None else subprocess.DEVNULL
        t0 = time.perf_counter()
        self._proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **c.env}
        )
        if c.log is not None and not isinstance(out, int):
            out.close()  # the child holds its own descriptor
        self._wait_ready(t0)

    def _robe_serve(self) -> list[str]:
        c = self.config
        return [
            sys.executable,
            "-m",
            "robe.cli.main",
            "serve",
            "--model",
            f"{c.name}={c.artifact}",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            *c.extra_args,
        ]

    def _peer(self, module: str) -> list[str]:
        c = self.config
        args = ["--artifact", str(c.artifact), "--port", str(self.port), *c.extra_args]
        return [sys.executable, "-m", module, *args]

    @property
    def what(self) -> str:
        return self.config.module or "robe serve"

    def _wait_ready(self, t0: float) -> None:
        assert self._proc is not None
        deadline = t0 + self.config.ready_timeout_s
        while time.perf_counter() < deadline:
            if self._proc.poll() is not None:
                where = f" (log: {self.config.log})" if self.config.log else ""
                raise RobeError(
                    f"{self.what} for {self.config.name!r} exited with status "
                    f"{self._proc.returncode} before it was ready{where}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        self.cold_start_s = time.perf_counter() - t0
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RobeError(
            f"{self.what} for {self.config.name!r} was not ready "
            f"after {self.config.ready_timeout_s:.0f} s"
        )

    @property
    def process(self) -> subprocess.Popen[bytes]:
        assert self._proc is not None, "the server is not started"
        return self._proc

    def memory(self) -> tuple[int, int]:
        """(resident, of which file-backed) bytes of the server process and its children.

        File-backed pages are mapped weights and libraries: they count in RSS once
        touched, and the kernel may drop them under pressure (they are clean).
        """
        assert self._proc is not None
        proc = psutil.Process(self._proc.pid)
        infos = [p.memory_info() for p in (proc, *proc.children(recursive=True))]
        return sum(i.rss for i in infos), sum(getattr(i, "shared", 0) for i in infos)

    def cpu_seconds(self) -> float:
        """User and system CPU seconds of the server process and its live children so far."""
        assert self._proc is not None
        proc = psutil.Process(self._proc.pid)
        total = 0.0
        for p in (proc, *proc.children(recursive=True)):
            with contextlib.suppress(psutil.NoSuchProcess):
                times = p.cpu_times()
                total += times.user + times.system
        return total

    def rss_bytes(self) -> int:
        return self.memory()[0]

    def stop(self, timeout_s: float = 30.0) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        # a peer's children (Ray's agents) can outlive it: they are ended after it
        try:
            children = psutil.Process(self._proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        self._proc.send_signal(signal.SIGTERM)  # drains the queue, then exits
        try:
            self._proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def artifact_bytes(path: Path) -> int:
    """Bytes on disk of an artifact (or training run) folder, every file counted."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())

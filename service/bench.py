"""`robe bench service`: closed-loop HTTP load over loopback against a real server.

For every model (ROBE and plain tables), runtime and batching on/off, a server is
started in a subprocess (`python -m service`) and loaded at concurrency 1, 16 and 64
with /recommend requests of `candidates` items each, by a minimal keep-alive HTTP/1.1
client in this process (asyncio streams, so the client costs little next to the server).
Two ceilings are measured in the same run:

- floor: `POST /bench/floor` parses and validates the same payload and returns a
  constant: what HTTP and validation alone allow (best rps over the concurrencies);
- model: the runtime's best rows/s in a tight loop (in this process, no server
  running) divided by `candidates`: what the model alone allows.

`limit_rps = 1 / (1/floor_rps + 1/model_rps)` per model name (its best runtime).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from service.models import ServedModel, load_model
from service.settings import Settings

CONCURRENCY = (1, 16, 64)


@dataclass
class BenchConfig:
    models: list[tuple[str, str]]  # (name, artifact path)
    runtimes: list[str]
    out: Path
    candidates: int = 100
    seconds: float = 3.0
    warmup_seconds: float = 0.5
    concurrency: tuple[int, ...] = CONCURRENCY
    max_batch_rows: int = 256
    max_wait_ms: float = 0.0
    device: str = "cpu"  # the servers' and the tight loop's: cpu or cuda
    readme: Path | None = None
    rounds: int = 2
    log: Any = field(default=print)


@dataclass
class Case:
    model: str
    runtime: str
    device: str
    batching: bool
    concurrency: int
    candidates: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_batch_rows: float
    requests: int
    errors: int


# -- the HTTP client ---------------------------------------------------------------------
def _request(path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _get(port: int, path: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
    _, body = await _read_response(reader)
    writer.close()
    return body


def _batch_totals(text: str, model: str) -> tuple[float, float]:
    total = count = 0.0
    for line in text.splitlines():
        if f'model="{model}"' not in line:
            continue
        if line.startswith("robe_batch_rows_sum"):
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith("robe_batch_rows_count"):
            count += float(line.rsplit(" ", 1)[1])
    return total, count


async def _load(
    port: int,
    path: str,
    payloads: list[bytes],
    concurrency: int,
    seconds: float,
    warmup: float,
    model: str,
) -> dict[str, Any]:
    start = time.perf_counter()
    measure_from = start + warmup
    end = measure_from + seconds
    latencies: list[float] = []
    errors = 0
    last_done = measure_from

    async def worker(w: int) -> None:
        nonlocal errors, last_done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.transport.get_extra_info("socket").setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
        )
        i = w
        while True:
            t0 = time.perf_counter()
            if t0 >= end:
                break
            writer.write(_request(path, payloads[i % len(payloads)]))
            i += 1
            status, _ = await _read_response(reader)
            t1 = time.perf_counter()
            if t0 >= measure_from:
                if status == 200:
                    latencies.append(t1 - t0)
                    last_done = max(last_done, t1)
                else:
                    errors += 1
        writer.close()

    async def scrape_at(when: float) -> tuple[float, float]:
        await asyncio.sleep(max(0.0, when - time.perf_counter()))
        return _batch_totals((await _get(port, "/metrics")).decode(), model)

    before = asyncio.ensure_future(scrape_at(measure_from))
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    b_sum, b_count = await before
    a_sum, a_count = _batch_totals((await _get(port, "/metrics")).decode(), model)
    lat = np.array(latencies) * 1000 if latencies else np.zeros(1)
    window = max(last_done - measure_from, 1e-9)
    return {
        "rps": len(latencies) / window,
        "p50_ms": float(np.percentile(lat, 50)),
        "p95_ms": float(np.percentile(lat, 95)),
        "p99_ms": float(np.percentile(lat, 99)),
        "mean_batch_rows": (a_sum - b_sum) / (a_count - b_count) if a_count > b_count else 0.0,
        "requests": len(latencies),
        "errors": errors,
    }


# -- payloads and ceilings ---------------------------------------------------------------
def payloads(model: ServedModel, candidates: int, n: int = 64, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    ids = model.catalog.ids.tolist()
    if len(ids) < candidates:
        raise ValueError(f"catalog has {len(ids)} items, fewer than {candidates} candidates")
    sides = model.layout.features_by_side()
    dense_names = set(model.layout.dense_index)
    out = []
    for _ in range(n):
        user: dict[str, Any] = {}
        for name in sides["user"] + sides["context"]:
            user[name] = rng.randint(0, 50) if name in dense_names else f"{rng.getrandbits(32):08x}"
        body = {
            "user": user,
            "candidates": rng.sample(ids, candidates),
            "k": 10,
            "model": model.name,
        }
        out.append(json.dumps(body).encode())
    return out


def model_rows_per_second(model: ServedModel, seconds: float = 1.0) -> float:
    """Best rows/s over batch sizes, on a thread set up as the server's inference worker."""
    with ThreadPoolExecutor(1, initializer=model.runtime.init_thread) as worker:
        return worker.submit(_rows_per_second, model, seconds).result()


def _rows_per_second(model: ServedModel, seconds: float) -> float:
    best = 0.0
    for size in (100, 256, 1024, 4096):
        idx = np.arange(size) % len(model.catalog)
        dense, keys = model.catalog.dense[idx], model.catalog.keys[idx]
        model.runtime.predict(dense, keys)
        runs, t0 = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < seconds / 4:
            model.runtime.predict(dense, keys)
            runs += 1
        best = max(best, runs * size / elapsed)
    return best


# -- servers -----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(
        self, models: list[str], runtime: str, batching: bool, cfg: BenchConfig, floor: bool = False
    ) -> None:
        self.port = _free_port()
        cmd = [
            sys.executable,
            "-m",
            "service",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--backend",
            runtime,
            "--device",
            cfg.device,
            "--log-level",
            "warning",
            "--max-batch-rows",
            str(cfg.max_batch_rows),
            "--max-wait-ms",
            str(cfg.max_wait_ms),
            "--batching" if batching else "--no-batching",
        ]
        if floor:
            cmd.append("--floor-endpoint")
        for m in models:
            cmd += ["--model", m]
        self.proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def wait_ready(self, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with code {self.proc.returncode}")
            try:
                body = asyncio.run(_get(self.port, "/readyz"))
                if b'"ready"' in body:
                    return
            except (OSError, asyncio.IncompleteReadError):
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not become ready")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Server:
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- the run -----------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    import onnxruntime

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        info["torch"] = None
    return info


def run_bench(cfg: BenchConfig) -> dict[str, Any]:
    log = cfg.log
    host = machine()  # before the load: the load average says how busy the machine was
    loaded: dict[str, ServedModel] = {}
    model_rps: dict[str, dict[str, float]] = {}
    for name, path in cfg.models:
        for rt in cfg.runtimes:
            model = load_model(name, path, rt, cfg.device, Settings().inference_threads())
            rows = model_rows_per_second(model)
            model_rps.setdefault(name, {})[rt] = rows / cfg.candidates
            log(
                f"model {name} {rt}: {rows:,.0f} rows/s in a tight loop "
                f"-> {rows / cfg.candidates:,.0f} requests/s of {cfg.candidates} candidates"
            )
            model.runtime.close()
            loaded.setdefault(name, model)
    cases: list[Case] = []
    first_name, first_path = cfg.models[0]
    ads = {name: payloads(m, cfg.candidates) for name, m in loaded.items()}

    def measure(port: int, path: str, name: str, bodies: list[bytes], conc: int) -> dict[str, Any]:
        return asyncio.run(_load(port, path, bodies, conc, cfg.seconds, cfg.warmup_seconds, name))

    # the floor: HTTP + validation alone
    with Server([f"{first_name}={first_path}"], cfg.runtimes[0], False, cfg, floor=True) as srv:
        for conc in cfg.concurrency:
            r = measure(srv.port, "/bench/floor", "floor", ads[first_name], conc)
            cases.append(Case("floor", "none", cfg.device, False, conc, cfg.candidates, **r))
            log(_fmt(cases[-1]))
    # Each configuration runs `rounds` times, batching on and off alternating, and keeps
    # its best round: the machine is shared, and a round that another process slowed
    # down says nothing about the server.
    best: dict[tuple[str, str, bool, int], Case] = {}
    for round_ in range(cfg.rounds):
        for name, path in cfg.models:
            for rt in cfg.runtimes:
                for batching in (True, False):
                    with Server([f"{name}={path}"], rt, batching, cfg) as srv:
                        for conc in cfg.concurrency:
                            r = measure(srv.port, "/recommend", name, ads[name], conc)
                            case = Case(name, rt, cfg.device, batching, conc, cfg.candidates, **r)
                            log(f"round {round_ + 1}: {_fmt(case)}")
                            key = (name, rt, batching, conc)
                            if key not in best or case.rps > best[key].rps:
                                best[key] = case
    cases.extend(best.values())
    floor_rps = max(c.rps for c in cases if c.model == "floor")
    limit = {
        name: 1 / (1 / floor_rps + 1 / max(per_rt.values())) for name, per_rt in model_rps.items()
    }
    result = {
        "machine": host,
        "candidates": cfg.candidates,
        "seconds_per_case": cfg.seconds,
        "rounds": cfg.rounds,
        "max_batch_rows": cfg.max_batch_rows,
        "max_wait_ms": cfg.max_wait_ms,
        "floor_rps": floor_rps,
        "model_rps": model_rps,
        "limit_rps": limit,
        "models": {name: path for name, path in cfg.models},
        "cases": [asdict(c) for c in cases],
        "checks": checks(cases, limit),
    }
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    cfg.out.write_text(json.dumps(result, indent=2) + "\n")
    if cfg.readme is not None:
        write_table(cfg.readme, result)
    return result


def checks(cases: list[Case], limit: dict[str, float]) -> dict[str, Any]:
    """The issue's targets, evaluated on this run."""
    out: dict[str, Any] = {}
    top = max((c.concurrency for c in cases), default=64)
    for name in limit:
        mine = [c for c in cases if c.model == name]
        best = max((c.rps for c in mine), default=0.0)
        on = max((c.rps for c in mine if c.batching and c.concurrency == top), default=0.0)
        off = max((c.rps for c in mine if not c.batching and c.concurrency == top), default=0.0)
        p99 = min((c.p99_ms for c in mine if c.batching and c.concurrency == 16), default=0.0)
        out[name] = {
            "batching_speedup_at_64": on / off if off else None,
            "best_rps": best,
            "best_over_limit": best / limit[name],
            "best_p99_ms_at_16_batching": p99,
        }
    return out


def _fmt(c: Case) -> str:
    return (
        f"{c.model:>5} {c.runtime:>11} batching={'on ' if c.batching else 'off'} "
        f"c={c.concurrency:<3} {c.rps:8.1f} rps  p50 {c.p50_ms:6.2f} ms  "
        f"p95 {c.p95_ms:6.2f} ms  p99 {c.p99_ms:6.2f} ms  batch {c.mean_batch_rows:7.1f} rows"
        + (f"  errors {c.errors}" if c.errors else "")
    )


BEGIN, END = "<!-- bench-service:begin -->", "<!-- bench-service:end -->"


def write_table(readme: Path, result: dict[str, Any]) -> None:
    m = result["machine"]
    lines = [
        BEGIN,
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['platform']}, torch {m.get('torch')}, "
        f"onnxruntime {m['onnxruntime']}, load average {m['load_average_at_start']} at the "
        f"start (the machine is shared). {result['candidates']} candidates per request, "
        f"{result['seconds_per_case']} s per case, batches of up to "
        f"{result['max_batch_rows']} rows / {result['max_wait_ms']} ms.",
        "",
        f"Floor (HTTP + validation alone): {result['floor_rps']:.0f} rps. "
        + "; ".join(
            f"{name}: model alone {max(v.values()):.0f} rps, "
            f"limit {result['limit_rps'][name]:.0f} rps"
            for name, v in result["model_rps"].items()
        ),
        "",
        "| model | runtime | batching | concurrency | rps | p50 ms | p95 ms | p99 ms "
        "| mean batch rows |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in result["cases"]:
        lines.append(
            f"| {c['model']} | {c['runtime']} | {'on' if c['batching'] else 'off'} | "
            f"{c['concurrency']} | {c['rps']:.1f} | {c['p50_ms']:.2f} | {c['p95_ms']:.2f} | "
            f"{c['p99_ms']:.2f} | {c['mean_batch_rows']:.1f} |"
        )
    lines.append(END)
    block = "\n".join(lines)
    text = readme.read_text() if readme.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Service (`robe bench service`)\n\n" + block + "\n"
    readme.parent.mkdir(parents=True, exist_ok=True)
    readme.write_text(text)

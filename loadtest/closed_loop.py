"""`robe bench service`: the load tester's closed-loop mode, over loopback.

For every model (ROBE and plain tables), runtime and batching on/off, a `robe serve`
process (loadtest.server) is loaded at concurrency 1, 16 and 64 with /recommend
requests of `candidates` items each: every worker holds one keep-alive connection
(loadtest.client) and sends its next request as soon as the last one is answered.
Batch sizes come from the server's /metrics (loadtest.scrape). Two ceilings are
measured in the same run (loadtest.ceilings): what HTTP and validation alone allow
(the floor endpoint) and what the model alone allows; `limit_rps` combines them.
With `peers`, what a user would run instead (loadtest.peers: a bare FastAPI endpoint
and Ray Serve) is loaded in every round beside robe serve, on the first model.
Each configuration runs `rounds` times, each round starting one configuration later
than the last; its case is the median round by rps.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from loadtest import scrape
from loadtest.ceilings import checks, limit_rps, model_rows_per_second, payloads
from loadtest.client import Connection, Target
from loadtest.closed_loop_table import write_table
from loadtest.peers import PEERS, Peer, comparison, peer_server
from loadtest.server import Server, ServerConfig
from robe.bench.machine import describe
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
    rounds: int = 3
    peers: bool = False  # also load the peers (loadtest.peers) on the first model
    log: Callable[[str], None] = field(default=print)


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
    # CPU time per answered request over the measured window: of the server's process
    # tree (robe serve, or a peer with its children) and of this load generator
    server_cpu_ms: float = 0.0
    client_cpu_ms: float = 0.0

    def line(self) -> str:
        """One progress line."""
        return (
            f"{self.model:>5} {self.runtime:>11} batching={'on ' if self.batching else 'off'} "
            f"c={self.concurrency:<3} {self.rps:8.1f} rps  p50 {self.p50_ms:6.2f} ms  "
            f"p95 {self.p95_ms:6.2f} ms  p99 {self.p99_ms:6.2f} ms  "
            f"batch {self.mean_batch_rows:7.1f} rows  "
            f"cpu {self.server_cpu_ms:.2f} ms/req (client {self.client_cpu_ms:.2f})"
            + (f"  errors {self.errors}" if self.errors else "")
        )


async def closed_loop(
    url: str,
    path: str,
    bodies: list[bytes],
    concurrency: int,
    seconds: float,
    warmup: float,
    model: str | None,
    server_cpu: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """`concurrency` workers, each sending its next request when the last is answered.

    Requests sent in the first `warmup` seconds are not counted; the mean batch size is
    the growth of the model's robe_batch_rows histogram over the measured window (0.0
    for `model` None: a peer, which has no such metric). `server_cpu` (the server's CPU
    seconds so far) gives `server_cpu_ms`, its CPU per answered request in the window
    (0.0 without it); `client_cpu_ms` is this process's.
    """
    target = Target.parse(url)
    start = time.perf_counter()
    measure_from = start + warmup
    end = measure_from + seconds
    latencies: list[float] = []
    errors = 0
    last_done = measure_from

    async def worker(w: int) -> None:
        nonlocal errors, last_done
        conn = await Connection.open(target)
        i = w
        while (t0 := time.perf_counter()) < end:
            status, _ = await conn.send(target.post(path, bodies[i % len(bodies)]))
            i += 1
            t1 = time.perf_counter()
            if t0 >= measure_from:
                if status == 200:
                    latencies.append(t1 - t0)
                    last_done = max(last_done, t1)
                else:
                    errors += 1
        await conn.aclose()

    async def batch_rows_at(when: float) -> tuple[float, int]:
        await asyncio.sleep(max(0.0, when - time.perf_counter()))
        if model is None:
            return 0.0, 0
        text = await asyncio.to_thread(scrape.fetch, url)
        return scrape.histogram_total(text, "robe_batch_rows", model)

    async def cpu_at(when: float) -> tuple[float, float]:
        await asyncio.sleep(max(0.0, when - time.perf_counter()))
        return (server_cpu() if server_cpu is not None else 0.0), time.process_time()

    before = asyncio.ensure_future(batch_rows_at(measure_from))
    cpu_from, cpu_to = (
        asyncio.ensure_future(cpu_at(measure_from)),
        asyncio.ensure_future(cpu_at(end)),
    )
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    b_sum, b_count = await before
    a_sum, a_count = await batch_rows_at(0.0)
    (server0, client0), (server1, client1) = await cpu_from, await cpu_to
    summary = summarize(latencies, errors, max(last_done - measure_from, 1e-9))
    answered = summary["rps"] * seconds  # at the window's rate, over the CPU's window
    return summary | {
        "mean_batch_rows": (a_sum - b_sum) / (a_count - b_count) if a_count > b_count else 0.0,
        "server_cpu_ms": 1000 * (server1 - server0) / answered if answered else 0.0,
        "client_cpu_ms": 1000 * (client1 - client0) / answered if answered else 0.0,
    }


def summarize(latencies: list[float], errors: int, window_s: float) -> dict[str, Any]:
    """Throughput and latency percentiles of the answered requests in a window."""
    lat = np.array(latencies) * 1000 if latencies else np.zeros(1)
    return {
        "rps": len(latencies) / window_s,
        "p50_ms": float(np.percentile(lat, 50)),
        "p95_ms": float(np.percentile(lat, 95)),
        "p99_ms": float(np.percentile(lat, 99)),
        "requests": len(latencies),
        "errors": errors,
    }


def median_round(rounds: list[Case]) -> Case:
    """The round with the median rps (the lower one of an even count)."""
    return sorted(rounds, key=lambda c: c.rps)[(len(rounds) - 1) // 2]


def _server(
    cfg: BenchConfig, name: str, path: str, runtime: str, batching: bool, logs: Path
) -> Server:
    args = [
        "--backend",
        runtime,
        "--device",
        cfg.device,
        "--max-batch-rows",
        str(cfg.max_batch_rows),
        "--max-wait-ms",
        str(cfg.max_wait_ms),
        "--batching" if batching else "--no-batching",
    ]
    if name == "floor":
        args.append("--floor-endpoint")
        name = cfg.models[0][0]
    log = logs / f"{name}-{runtime}-{'on' if batching else 'off'}.log"
    return Server(ServerConfig(name, Path(path), extra_args=tuple(args), log=log))


def run_bench(cfg: BenchConfig) -> dict[str, Any]:
    log = cfg.log
    # before the load: the load average says how busy the machine was; "cores" and
    # "cuda" are the names this benchmark's results have always used
    host = describe(cfg.device)
    host |= {"cores": host["cpu_cores"], "cuda": host.get("gpu")}
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

    def measure(srv: Server, path: str, name: str, conc: int) -> dict[str, Any]:
        bodies = ads[name if name in ads else first_name]
        scraped = None if name.startswith("peer-") else name
        return asyncio.run(
            closed_loop(
                srv.url,
                path,
                bodies,
                conc,
                cfg.seconds,
                cfg.warmup_seconds,
                scraped,
                server_cpu=srv.cpu_seconds,
            )
        )

    logs = Path(tempfile.mkdtemp(prefix="robe-bench-service-"))  # kept: a failed start's log
    log(f"server logs: {logs}")
    # the floor: HTTP + validation alone
    with _server(cfg, "floor", first_path, cfg.runtimes[0], False, logs) as srv:
        for conc in cfg.concurrency:
            r = measure(srv, "/bench/floor", "floor", conc)
            cases.append(Case("floor", "none", cfg.device, False, conc, cfg.candidates, **r))
            log(cases[-1].line())
    # Each configuration runs `rounds` times, batching on and off (and the peers)
    # taking turns, and keeps its median round: the machine is shared, and one round
    # that another process slowed down (or left idle) says little about the server.
    rounds: dict[tuple[str, str, bool, int], list[Case]] = {}

    def record(case: Case, round_: int) -> None:
        log(f"round {round_ + 1}: {case.line()}")
        key = (case.model, case.runtime, case.batching, case.concurrency)
        rounds.setdefault(key, []).append(case)

    def ours(name: str, path: str, rt: str, batching: bool) -> Callable[[int], None]:
        def run(round_: int) -> None:
            with _server(cfg, name, path, rt, batching, logs) as srv:
                for conc in cfg.concurrency:
                    r = measure(srv, "/recommend", name, conc)
                    record(Case(name, rt, cfg.device, batching, conc, cfg.candidates, **r), round_)

        return run

    def theirs(peer: Peer) -> Callable[[int], None]:
        def run(round_: int) -> None:
            args = (cfg.max_batch_rows, cfg.max_wait_ms)
            with peer_server(peer, first_name, Path(first_path), *args, logs) as srv:
                for conc in cfg.concurrency:
                    r = measure(srv, "/recommend", peer.name, conc)
                    case = Case(peer.name, "onnx", "cpu", peer.batching, conc, cfg.candidates, **r)
                    record(case, round_)

        return run

    configs = [
        ours(name, path, rt, batching)
        for name, path in cfg.models
        for rt in cfg.runtimes
        for batching in (True, False)
    ] + [theirs(peer) for peer in (PEERS if cfg.peers else ())]
    for round_ in range(cfg.rounds):
        # each round starts one configuration later: none is always first (after the
        # floor, or after Ray's processes exit) or always last
        shift = round_ % len(configs)
        for run in configs[shift:] + configs[:shift]:
            run(round_)
    cases.extend(median_round(rs) for rs in rounds.values())
    floor_rps = max(c.rps for c in cases if c.model == "floor")
    limit = limit_rps(floor_rps, model_rps)
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
        "checks": checks([asdict(c) for c in cases], limit),
    }
    if cfg.peers:
        result["peers"] = comparison([asdict(c) for c in cases], first_name)
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    cfg.out.write_text(json.dumps(result, indent=2) + "\n")
    if cfg.readme is not None:
        write_table(cfg.readme, result)
    return result

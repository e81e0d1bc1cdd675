"""Rate sweeps: a model on a running server, or models each in a server of its own.

The traffic is generated once per model from the same seed, so every model compared
gets the same requests in the same order. A short unrecorded warm-up at the lowest
rate comes first; batch sizes are the `/metrics` histogram accumulated during the
recorded rates only. Several models are swept together, taking turns at each rate,
so that they are measured under the same conditions of a shared machine.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from loadtest import scrape
from loadtest.client import Target
from loadtest.discover import discover, model_info
from loadtest.report import ModelRun
from loadtest.runner import RateResult, RunConfig, encode_calls, merge, run_rate
from loadtest.server import Server, ServerConfig, artifact_bytes
from loadtest.traffic import Traffic, TrafficConfig

log = logging.getLogger("robe.loadtest")


@dataclass(frozen=True)
class SweepConfig:
    rates: tuple[float, ...]
    duration_s: float  # per rate and model, split evenly over the rounds
    rounds: int = 1  # turns each model takes at each rate
    p99_target_ms: float = 50.0
    max_in_flight: int = 256
    timeout_s: float = 10.0
    warmup_s: float = 2.0
    pause_s: float = 1.0
    distinct_requests: int = 2000  # the request pool the runner cycles through
    seed: int = 0
    traffic: TrafficConfig = field(default_factory=TrafficConfig)
    schema: Path | None = None
    catalog: Path | None = None

    def __post_init__(self) -> None:
        if not self.rates:
            raise ValueError("give at least one rate")
        for rate in self.rates:
            RunConfig(rate, self.duration_s)  # validates rate and duration
        if self.rounds < 1:
            raise ValueError(f"rounds must be positive, got {self.rounds}")
        if not self.p99_target_ms > 0:
            raise ValueError(f"p99 target must be positive, got {self.p99_target_ms}")
        if self.warmup_s < 0 or self.pause_s < 0:
            raise ValueError(f"warmup {self.warmup_s} and pause {self.pause_s} must be >= 0")
        if self.distinct_requests < 1:
            raise ValueError(f"distinct_requests must be positive, got {self.distinct_requests}")

    def run_config(self, rate: float, duration_s: float | None = None) -> RunConfig:
        return RunConfig(rate, duration_s or self.duration_s, self.max_in_flight, self.timeout_s)

    def settings(self) -> dict[str, Any]:
        t = self.traffic
        return {
            "rates": list(self.rates),
            "duration_s": self.duration_s,
            "rounds": self.rounds,
            "max_in_flight": self.max_in_flight,
            "timeout_s": self.timeout_s,
            "warmup_s": self.warmup_s,
            "distinct_requests": self.distinct_requests,
            "seed": self.seed,
            "candidate_sizes": list(t.candidate_sizes),
            "score_fraction": t.score_fraction,
            "users": t.users,
        }


@dataclass
class Subject:
    """One model under test: where it is, what it is sent, what it answered."""

    url: str
    info: dict[str, Any]
    target: Target
    requests: list[tuple[str, bytes]]
    server: Server | None = None
    rss_ready: tuple[int, int] | None = None
    results: list[RateResult] = field(default_factory=list)
    memory: list[tuple[int, int]] = field(default_factory=list)  # after each rate
    batches_before: list[tuple[float, int]] = field(default_factory=list)
    batch_rows: list[tuple[float, int]] = field(default_factory=list)
    stages_before: dict[str, tuple[float, int]] = field(default_factory=dict)
    stage_ms: dict[str, float | None] = field(default_factory=dict)
    rows_before: tuple[float, int] = (0.0, 0)
    mean_batch_rows: float | None = None

    @property
    def name(self) -> str:
        return str(self.info["name"])

    def model_run(self) -> ModelRun:
        run = ModelRun(
            name=self.name,
            artifact=None,
            info=self.info,
            sweep=tuple(self.results),
            batch_rows=tuple(self.batch_rows),
            stage_ms=dict(self.stage_ms),
            mean_batch_rows=self.mean_batch_rows,
        )
        if self.server is None or self.rss_ready is None:
            return run
        rss, file_backed = max([self.rss_ready, *self.memory])
        return replace(
            run,
            artifact=str(self.server.config.artifact),
            artifact_bytes=artifact_bytes(self.server.config.artifact),
            rss_bytes=rss,
            rss_file_bytes=file_backed,
            rss_ready_bytes=self.rss_ready[0],
            cold_start_s=self.server.cold_start_s,
        )


def subject(
    url: str, model: str | None, config: SweepConfig, server: Server | None = None
) -> Subject:
    """The model at `url` and its traffic (the same seed, so the same requests, for all)."""
    info = model_info(url, model)
    features, items = discover(url, model, config.schema, config.catalog)
    traffic = Traffic(features, items, config.traffic, seed=config.seed)
    target = Target.parse(url)
    requests = encode_calls(target, traffic.calls(config.distinct_requests))
    rss_ready = server.memory() if server is not None else None
    return Subject(url, info, target, requests, server, rss_ready)


async def sweep(subjects: list[Subject], config: SweepConfig) -> None:
    """Every rate against every subject, the subjects taking turns at each rate.

    At each rate every subject gets `rounds` slices of `duration / rounds`, in turns
    whose order alternates (A B, B A, A B ...): a burst of other work on a shared
    machine then falls on both models alike rather than on one rate of one model.
    A subject's slices at one rate are merged into one result. Idle servers wait on
    a socket and take no CPU.
    """
    for s in subjects:
        if config.warmup_s > 0:
            warm = config.run_config(min(config.rates), config.warmup_s)
            await run_rate(s.target, s.requests, warm)
        text = scrape.fetch(s.url)
        s.batches_before = scrape.histogram(text, "robe_batch_rows", s.name)
        s.stages_before = scrape.stage_totals(text, s.name)
        s.rows_before = scrape.histogram_total(text, "robe_batch_rows", s.name)
    first = True
    turn = 0
    for rate in config.rates:
        slices: dict[str, list[RateResult]] = {s.name: [] for s in subjects}
        for _ in range(config.rounds):
            for s in subjects if turn % 2 == 0 else subjects[::-1]:
                if not first:
                    await asyncio.sleep(config.pause_s)
                first = False
                part = config.run_config(rate, config.duration_s / config.rounds)
                slices[s.name].append(await run_rate(s.target, s.requests, part))
                if s.server is not None:
                    s.memory.append(s.server.memory())
            turn += 1
        for s in subjects:
            result = merge(slices[s.name])
            s.results.append(result)
            log.info(
                "%s: %g req/s -> %.1f req/s, p50 %s ms, p99 %s ms, %d errors",
                s.name,
                rate,
                result.achieved_rps,
                _fmt(result.percentile_ms(50)),
                _fmt(result.percentile_ms(99)),
                result.error_count,
            )
    for s in subjects:
        text = scrape.fetch(s.url)
        after = scrape.histogram(text, "robe_batch_rows", s.name)
        s.batch_rows = scrape.per_bucket(scrape.difference(after, s.batches_before))
        s.stage_ms = scrape.stage_means_ms(scrape.stage_totals(text, s.name), s.stages_before)
        rows, batches = scrape.histogram_total(text, "robe_batch_rows", s.name)
        if batches > s.rows_before[1]:
            s.mean_batch_rows = (rows - s.rows_before[0]) / (batches - s.rows_before[1])


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def measure_url(url: str, model: str | None, config: SweepConfig) -> ModelRun:
    """A model on a server someone else runs: latency and batches, no memory or start-up."""
    s = subject(url, model, config)
    asyncio.run(sweep([s], config))
    return s.model_run()


def measure_served(
    models: list[tuple[str, Path]],
    config: SweepConfig,
    log_dir: Path | None = None,
    server_args: tuple[str, ...] = (),
) -> list[ModelRun]:
    """Each model in a `robe serve` process of its own, all swept together.

    Servers start one after the other (cold start and memory at ready are each
    model's alone), then `sweep` alternates between them.
    """
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        subjects = []
        for name, artifact in models:
            log_path = None if log_dir is None else log_dir / f"{name}.log"
            server_config = ServerConfig(name, artifact, log=log_path, extra_args=server_args)
            server = stack.enter_context(Server(server_config))
            log.info("%s: ready in %.1f s at %s", name, server.cold_start_s, server.url)
            subjects.append(subject(server.url, name, config, server))
        asyncio.run(sweep(subjects, config))
        return [s.model_run() for s in subjects]

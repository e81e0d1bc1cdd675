"""A rate sweep of one model: against a running server, or in a server of its own.

The traffic is generated once per model from the same seed, so every model compared
gets the same requests in the same order. A short unrecorded warm-up at the lowest
rate comes first; batch sizes are the `/metrics` histogram accumulated during the
recorded rates only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest import scrape
from loadtest.client import Target
from loadtest.discover import discover, model_info
from loadtest.report import ModelRun
from loadtest.runner import RateResult, RunConfig, encode_calls, run_rate
from loadtest.server import Server, ServerConfig, artifact_bytes
from loadtest.traffic import Traffic, TrafficConfig

log = logging.getLogger("robe.loadtest")


@dataclass(frozen=True)
class SweepConfig:
    rates: tuple[float, ...]
    duration_s: float
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
            "max_in_flight": self.max_in_flight,
            "timeout_s": self.timeout_s,
            "warmup_s": self.warmup_s,
            "distinct_requests": self.distinct_requests,
            "seed": self.seed,
            "candidate_sizes": list(t.candidate_sizes),
            "score_fraction": t.score_fraction,
            "users": t.users,
        }


@dataclass(frozen=True)
class SweepResult:
    info: dict[str, Any]
    results: tuple[RateResult, ...]
    batch_rows: tuple[tuple[float, int], ...]


def sweep(
    url: str,
    model: str | None,
    config: SweepConfig,
    on_rate: Callable[[RateResult], None] | None = None,
) -> SweepResult:
    """Every rate of `config` against the model at `url`; `on_rate(result)` after each."""
    info = model_info(url, model)
    features, items = discover(url, model, config.schema, config.catalog)
    traffic = Traffic(features, items, config.traffic, seed=config.seed)
    target = Target.parse(url)
    requests = encode_calls(target, traffic.calls(config.distinct_requests))
    name = str(info["name"])

    async def run_all() -> tuple[list[RateResult], list[tuple[float, int]]]:
        if config.warmup_s > 0:
            await run_rate(target, requests, config.run_config(min(config.rates), config.warmup_s))
        before = scrape.histogram(scrape.fetch(url), "robe_batch_rows", name)
        results = []
        for i, rate in enumerate(config.rates):
            if i:
                await asyncio.sleep(config.pause_s)
            result = await run_rate(target, requests, config.run_config(rate))
            log.info(
                "%s: %g req/s -> %.1f req/s, p50 %s ms, p99 %s ms, %d errors",
                name,
                rate,
                result.achieved_rps,
                _fmt(result.percentile_ms(50)),
                _fmt(result.percentile_ms(99)),
                result.error_count,
            )
            if on_rate is not None:
                on_rate(result)
            results.append(result)
        after = scrape.histogram(scrape.fetch(url), "robe_batch_rows", name)
        return results, scrape.per_bucket(scrape.difference(after, before))

    results, batch_rows = asyncio.run(run_all())
    return SweepResult(info, tuple(results), tuple(batch_rows))


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def measure_url(url: str, model: str | None, config: SweepConfig) -> ModelRun:
    """A model on a server someone else runs: latency and batches, no memory or start-up."""
    s = sweep(url, model, config)
    return ModelRun(
        name=str(s.info["name"]),
        artifact=None,
        info=s.info,
        sweep=s.results,
        batch_rows=s.batch_rows,
    )


def measure_served(
    name: str,
    artifact: Path,
    config: SweepConfig,
    log_dir: Path | None = None,
    server_args: tuple[str, ...] = (),
) -> ModelRun:
    """A model in a `robe serve` process of its own: everything, memory and start-up too."""
    log_path = None if log_dir is None else log_dir / f"{name}.log"
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
    server_config = ServerConfig(name, artifact, log=log_path, extra_args=server_args)
    with Server(server_config) as server:
        log.info("%s: ready in %.1f s at %s", name, server.cold_start_s, server.url)
        rss_ready = server.rss_bytes()
        peak = [server.memory()]
        s = sweep(server.url, name, config, on_rate=lambda _: peak.append(server.memory()))
        rss, file_backed = max(peak)
        return ModelRun(
            name=name,
            artifact=str(artifact),
            info=s.info,
            sweep=s.results,
            batch_rows=s.batch_rows,
            artifact_bytes=artifact_bytes(artifact),
            rss_bytes=rss,
            rss_file_bytes=file_backed,
            rss_ready_bytes=rss_ready,
            cold_start_s=server.cold_start_s,
        )

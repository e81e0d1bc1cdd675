"""Soak: a long open loop at a share of the measured capacity (default 70%), in windows.

Per window: answers, errors, p50/p99 latency and the server's resident memory (when
the server is ours to measure). The verdict compares the last window with the first:
RSS growth (the first window is the baseline, after every code path has run once),
p99 drift, and every error over the whole run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from loadtest.client import Target
from loadtest.overload import measure_capacity
from loadtest.runner import RunConfig, run_rate


@dataclass(frozen=True)
class SoakConfig:
    minutes: float
    load: float = 0.7  # share of the measured capacity
    window_s: float = 30.0
    capacity_s: float = 10.0
    concurrency: int = 4


async def soak(
    target: Target,
    requests: Sequence[tuple[str, bytes]],
    config: SoakConfig,
    rss: Callable[[], int] | None = None,
) -> dict[str, Any]:
    capacity, _ = await measure_capacity(target, requests, config.concurrency, config.capacity_s)
    rate = capacity * config.load
    windows: list[dict[str, Any]] = []
    t0 = time.monotonic()
    for w in range(max(1, math.ceil(config.minutes * 60 / config.window_s))):
        r = await run_rate(target, requests, RunConfig(rate, config.window_s, 4096, 10.0))
        windows.append(
            {
                "window": w,
                "t_s": round(time.monotonic() - t0, 1),
                "ok": r.ok,
                "errors": r.error_count,
                "errors_by_kind": dict(r.errors),
                "p50_ms": r.percentile_ms(50),
                "p99_ms": r.percentile_ms(99),
                "rss_bytes": rss() if rss is not None else None,
            }
        )
    first, last = windows[0], windows[-1]
    return {
        "config": asdict(config),
        "capacity_rps": round(capacity, 2),
        "rate_rps": round(rate, 2),
        "windows": windows,
        "errors": sum(w["errors"] for w in windows),
        "requests_ok": sum(w["ok"] for w in windows),
        "rss_growth": (
            round(last["rss_bytes"] / first["rss_bytes"] - 1, 4)
            if first["rss_bytes"] and last["rss_bytes"]
            else None
        ),
        "p99_first_ms": first["p99_ms"],
        "p99_last_ms": last["p99_ms"],
        "p99_max_ms": max((w["p99_ms"] or 0.0) for w in windows),
    }


def markdown(result: dict[str, Any], title: str) -> str:
    c = result["config"]
    growth = result["rss_growth"]
    lines = [
        f"# {title}",
        "",
        f"{c['minutes']:g} minutes open loop at {c['load']:.0%} of the measured capacity "
        f"({result['rate_rps']:.1f} of {result['capacity_rps']:.1f} req/s), in "
        f"{c['window_s']:.0f} s windows.",
        "",
        f"- requests answered 200: {result['requests_ok']}; errors: {result['errors']}",
        "- RSS growth, first window to last: "
        + ("not measured (not our server)" if growth is None else f"{growth:+.2%}"),
        f"- p99: first window {result['p99_first_ms']:.1f} ms, last {result['p99_last_ms']:.1f} "
        f"ms, worst {result['p99_max_ms']:.1f} ms",
        "",
        "| t (s) | ok | errors | p50 ms | p99 ms | RSS MB |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for w in result["windows"]:
        rss = "" if w["rss_bytes"] is None else f"{w['rss_bytes'] / 1e6:.1f}"
        lines.append(
            f"| {w['t_s']:.0f} | {w['ok']} | {w['errors']} | {w['p50_ms'] or 0:.1f} | "
            f"{w['p99_ms'] or 0:.1f} | {rss} |"
        )
    return "\n".join(lines) + "\n"

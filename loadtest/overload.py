"""Overload: what a server does with more traffic than it can score.

First the capacity: `concurrency` closed-loop clients send back to back for
`capacity_s` seconds (wrk's way), capacity = 200s per second (a refused client waits
50 ms before its next request). Then, for each
multiple, an open loop (`runner.run_rate`: arrivals on a fixed schedule, whatever the
server does) at that multiple of the capacity, each request carrying `timeout_ms`.
For each rate: goodput (200s answered within their deadline, per second, and as a share
of the capacity), the shed fraction (503s), the latency of accepted requests
(everything but 503), how many were answered later than deadline + `late_ms`, and how
fast refusals came (a refusal is useful only if it is quick).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from loadtest.client import Connection, ProtocolError, Target
from loadtest.runner import RateResult, RunConfig, run_rate


@dataclass(frozen=True)
class OverloadConfig:
    multiples: tuple[float, ...] = (2.0, 4.0, 16.0)
    duration_s: float = 20.0
    capacity_s: float = 10.0
    # one request scoring, one waiting: the worker never idles, and none waits long
    concurrency: int = 2
    deadline_ms: float = 2000.0
    late_ms: float = 100.0  # an accepted request answered past deadline + this is late
    refusal_ms: float = 50.0  # a refusal slower than this is slow


async def measure_capacity(
    target: Target, requests: Sequence[tuple[str, bytes]], concurrency: int, seconds: float
) -> tuple[float, dict[str, int]]:
    """Closed loop: `concurrency` clients, back to back; (answers per second, by status)."""
    statuses: dict[str, int] = {}
    stop_at = time.monotonic() + seconds

    async def client(c: int) -> None:
        conn = await Connection.open(target)
        i = c
        try:
            while time.monotonic() < stop_at:
                status, _ = await conn.send(requests[i % len(requests)][1])
                statuses[str(status)] = statuses.get(str(status), 0) + 1
                i += concurrency
                if status == 503:  # refused at once: do not spin on refusals
                    await asyncio.sleep(0.05)
                if not conn.reusable:
                    conn.close()
                    conn = await Connection.open(target)
        except (OSError, ProtocolError, asyncio.IncompleteReadError):
            statuses["connection"] = statuses.get("connection", 0) + 1
        finally:
            conn.close()

    t0 = time.monotonic()
    await asyncio.gather(*(client(c) for c in range(concurrency)))
    elapsed = time.monotonic() - t0
    return statuses.get("200", 0) / elapsed, statuses


def with_deadline(body: bytes, deadline_ms: float) -> bytes:
    payload = json.loads(body)
    payload["timeout_ms"] = deadline_ms
    return json.dumps(payload).encode()


def summarize(result: RateResult, capacity: float, config: OverloadConfig) -> dict[str, Any]:
    status, seconds = result.answered[:, 0], result.answered[:, 1]
    deadline = config.deadline_ms / 1000
    ok = status == 200
    refused = status == 503
    accepted = ~refused
    sent = result.config.count - result.errors.get("dropped", 0)
    good = int((ok & (seconds <= deadline)).sum())

    def pct(values: np.ndarray[Any, Any], q: float) -> float | None:
        return round(float(np.percentile(values, q)) * 1000, 1) if values.size else None

    return {
        "multiple": round(result.config.rate / capacity, 2),
        "offered_rps": round(result.config.rate, 2),
        "sent": sent,
        "goodput_rps": round(good / result.config.duration_s, 3),
        "goodput_of_capacity": round(good / result.config.duration_s / capacity, 3),
        "shed_fraction": round(float(refused.sum()) / max(sent, 1), 3),
        "answers": {str(int(k)): int((status == k).sum()) for k in np.unique(status)},
        "client_errors": dict(result.errors),
        "accepted_p50_ms": pct(seconds[accepted], 50),
        "accepted_p99_ms": pct(seconds[accepted], 99),
        "accepted_max_ms": pct(seconds[accepted], 100),
        "late": int((accepted & (seconds > deadline + config.late_ms / 1000)).sum()),
        "refusal_p99_ms": pct(seconds[refused], 99),
        "refusal_max_ms": pct(seconds[refused], 100),
        "slow_refusals": int((refused & (seconds > config.refusal_ms / 1000)).sum()),
        "max_send_lag_ms": round(result.max_send_lag_s * 1000, 1),
    }


async def overload(
    target: Target, requests: Sequence[tuple[str, bytes]], config: OverloadConfig
) -> dict[str, Any]:
    capacity, statuses = await measure_capacity(
        target, requests, config.concurrency, config.capacity_s
    )
    if capacity <= 0:
        raise ValueError(f"no request succeeded while measuring capacity: {statuses}")
    levels = []
    for multiple in config.multiples:
        run = RunConfig(
            rate=capacity * multiple,
            duration_s=config.duration_s,
            max_in_flight=100_000,  # open loop: never hold an arrival back
            timeout_s=config.deadline_ms / 1000 + 30,
        )
        levels.append(summarize(await run_rate(target, requests, run), capacity, config))
    return {
        "config": asdict(config),
        "capacity_rps": round(capacity, 3),
        "capacity_answers": statuses,
        "levels": levels,
    }


def markdown(result: dict[str, Any], title: str) -> str:
    c = result["config"]
    lines = [
        f"# {title}",
        "",
        f"Capacity: {result['capacity_rps']:.2f} req/s (closed loop, {c['concurrency']} "
        f"clients, {c['capacity_s']:.0f} s). Each rate: open loop for {c['duration_s']:.0f} s, "
        f"every request with `timeout_ms` {c['deadline_ms']:.0f}.",
        "",
        "| offered | x capacity | goodput req/s | of capacity | shed | accepted p50 / p99 / max "
        f"ms | late (> deadline + {c['late_ms']:.0f} ms) | refusal p99 / max ms | "
        f"refusals > {c['refusal_ms']:.0f} ms |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for lv in result["levels"]:
        lines.append(
            f"| {lv['offered_rps']:.1f} | {lv['multiple']:.1f} | {lv['goodput_rps']:.2f} | "
            f"{lv['goodput_of_capacity']:.0%} | {lv['shed_fraction']:.0%} | "
            f"{lv['accepted_p50_ms']} / {lv['accepted_p99_ms']} / {lv['accepted_max_ms']} | "
            f"{lv['late']} | {lv['refusal_p99_ms']} / {lv['refusal_max_ms']} | "
            f"{lv['slow_refusals']} |"
        )
    return "\n".join(lines) + "\n"

"""The open-loop runner: requests leave at a constant rate whatever the server does.

A closed-loop driver (locust) waits for a response before its user sends again, so a
slow server is sent less and its queueing never shows. Here request `i` is scheduled
at `start + i / rate`, and its latency is measured from that scheduled time to the
end of its response: time spent waiting in any queue, the client's included, counts.
In-flight requests are capped (one keep-alive connection each), and a request due
while the cap is reached is dropped and counted as an error, not delayed.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from loadtest.client import Connection, ProtocolError, Target
from loadtest.traffic import Call

PERCENTILES = (50.0, 90.0, 99.0, 99.9)


@dataclass(frozen=True)
class RunConfig:
    rate: float  # requests per second
    duration_s: float
    max_in_flight: int = 256
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError(f"rate must be positive, got {self.rate}")
        if not self.duration_s > 0:
            raise ValueError(f"duration must be positive, got {self.duration_s}")
        if self.max_in_flight < 1:
            raise ValueError(f"max_in_flight must be positive, got {self.max_in_flight}")
        if not self.timeout_s > 0:
            raise ValueError(f"timeout must be positive, got {self.timeout_s}")

    @property
    def count(self) -> int:
        return max(1, round(self.rate * self.duration_s))


@dataclass(frozen=True)
class RateResult:
    """One arrival rate: every latency sample and every outcome."""

    config: RunConfig
    latencies_s: npt.NDArray[np.float64]  # of the 2xx responses, scheduled send -> response
    errors: dict[str, int]  # HTTP status, or "dropped", "timeout", "connection"
    responses: dict[str, dict[str, int]]  # endpoint -> HTTP status -> count
    elapsed_s: float  # first scheduled send -> last response
    max_send_lag_s: float  # how late the scheduler ever sent (client saturation)
    # every response, whatever its status: [k, 2] (HTTP status, scheduled send -> response)
    answered: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 2)))

    @property
    def ok(self) -> int:
        return int(self.latencies_s.size)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def achieved_rps(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def percentile_ms(self, q: float) -> float | None:
        if self.ok == 0:
            return None
        return float(np.percentile(self.latencies_s, q)) * 1000.0

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rate": self.config.rate,
            "duration_s": self.config.duration_s,
            "scheduled": self.config.count,
            "ok": self.ok,
            "achieved_rps": round(self.achieved_rps, 3),
        }
        for q in PERCENTILES:
            value = self.percentile_ms(q)
            out[f"p{q:g}_ms".replace(".", "")] = None if value is None else round(value, 4)
        out["mean_ms"] = round(float(self.latencies_s.mean()) * 1000, 4) if self.ok else None
        out["max_ms"] = round(float(self.latencies_s.max()) * 1000, 4) if self.ok else None
        out["errors"] = self.error_count
        out["errors_by_kind"] = dict(sorted(self.errors.items()))
        out["responses"] = self.responses
        out["max_send_lag_ms"] = round(self.max_send_lag_s * 1000, 3)
        return out


async def run_rate(
    target: Target, requests: Sequence[tuple[str, bytes]], config: RunConfig
) -> RateResult:
    """Send `config.count` requests (cycling through `requests`) at `config.rate`."""
    if not requests:
        raise ValueError("no requests to send")
    loop = asyncio.get_running_loop()
    n = config.count
    latencies = np.full(n, np.nan)
    answered = np.full((n, 2), np.nan)
    errors: Counter[str] = Counter()
    responses: Counter[tuple[str, int]] = Counter()
    idle: list[Connection] = []
    pending: set[asyncio.Task[None]] = set()
    in_flight = 0
    max_lag = 0.0
    last_done = 0.0

    async def exchange(raw: bytes, held: list[Connection]) -> int:
        """Send on an idle connection, or a new one; `held` gets the connection used."""
        while idle:
            conn = idle.pop()
            if conn.stale:
                conn.close()
                continue
            held.append(conn)
            try:
                status, _ = await conn.send(raw)
                return status
            except (OSError, ProtocolError, asyncio.IncompleteReadError):
                # the server closed the idle connection as we sent (uvicorn closes
                # keep-alive connections idle for 5 s) and did not answer: scoring is
                # idempotent, so send once more on a fresh connection
                conn.close()
                held.clear()
                break
        conn = await Connection.open(target)
        held.append(conn)
        status, _ = await conn.send(raw)
        return status

    async def one(i: int, endpoint: str, raw: bytes, scheduled: float) -> None:
        nonlocal in_flight, last_done
        held: list[Connection] = []
        try:
            status = await asyncio.wait_for(exchange(raw, held), config.timeout_s)
            done = loop.time()
            last_done = max(last_done, done)
            responses[(endpoint, status)] += 1
            answered[i] = (status, done - scheduled)
            if 200 <= status < 300:
                latencies[i] = done - scheduled
            else:
                errors[str(status)] += 1
            if held[-1].reusable:
                idle.append(held[-1])
            else:
                held[-1].close()
        except TimeoutError:
            errors["timeout"] += 1
            for conn in held:
                conn.close()  # a half-read response leaves the connection unusable
        except (OSError, ProtocolError, asyncio.IncompleteReadError):
            errors["connection"] += 1
            for conn in held:
                conn.close()
        finally:
            in_flight -= 1

    start = loop.time() + 0.005
    for i in range(n):
        scheduled = start + i / config.rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        max_lag = max(max_lag, loop.time() - scheduled)
        if in_flight >= config.max_in_flight:
            errors["dropped"] += 1
            continue
        in_flight += 1
        endpoint, raw = requests[i % len(requests)]
        task = asyncio.create_task(one(i, endpoint, raw, scheduled))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.gather(*list(pending))
    await asyncio.gather(*(conn.aclose() for conn in idle))
    by_endpoint: dict[str, dict[str, int]] = {}
    for (endpoint, status), count in sorted(responses.items()):
        by_endpoint.setdefault(endpoint, {})[str(status)] = count
    ok = latencies[~np.isnan(latencies)]
    end = max(last_done, start + n / config.rate)
    return RateResult(
        config=config,
        latencies_s=ok,
        errors=dict(errors),
        responses=by_endpoint,
        elapsed_s=end - start,
        max_send_lag_s=max_lag,
        answered=answered[~np.isnan(answered[:, 0])],
    )


def merge(results: Sequence[RateResult]) -> RateResult:
    """Several runs at one rate as one: every sample, every count, the durations summed."""
    if not results:
        raise ValueError("nothing to merge")
    rates = {r.config.rate for r in results}
    if len(rates) != 1:
        raise ValueError(f"cannot merge runs at different rates {sorted(rates)}")
    errors: Counter[str] = Counter()
    responses: dict[str, Counter[str]] = {}
    for r in results:
        errors.update(r.errors)
        for endpoint, codes in r.responses.items():
            responses.setdefault(endpoint, Counter()).update(codes)
    first = results[0].config
    return RateResult(
        config=replace(first, duration_s=sum(r.config.duration_s for r in results)),
        latencies_s=np.concatenate([r.latencies_s for r in results]),
        errors=dict(errors),
        responses={e: dict(sorted(c.items())) for e, c in sorted(responses.items())},
        elapsed_s=sum(r.elapsed_s for r in results),
        max_send_lag_s=max(r.max_send_lag_s for r in results),
        answered=np.concatenate([r.answered for r in results]),
    )


def encode_calls(target: Target, calls: Sequence[Call]) -> list[tuple[str, bytes]]:
    """(endpoint, request bytes) of each `traffic.Call`."""
    return [(c.endpoint, target.post(c.endpoint, c.encode())) for c in calls]

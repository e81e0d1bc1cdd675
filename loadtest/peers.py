"""The peers of `robe bench service --peers`: what a user would run instead of robe serve.

Each peer serves the same artifact's ONNX model with the same request encoding
(loadtest.peer_model) in a process of its own on loopback, started and stopped like
robe serve (loadtest.server) and loaded by the same client: `peer-fastapi`, a bare
FastAPI endpoint without batching (loadtest.peer_fastapi), and `peer-ray-serve`, Ray
Serve with `@serve.batch` (loadtest.peer_ray; `ray[serve]` is in the `bench` extra).
`comparison` sets robe serve (ONNX Runtime, batching on, its default) against them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest.server import Server, ServerConfig


@dataclass(frozen=True)
class Peer:
    name: str  # the `model` of its cases
    module: str
    batching: bool


PEERS = (
    Peer("peer-fastapi", "loadtest.peer_fastapi", batching=False),
    Peer("peer-ray-serve", "loadtest.peer_ray", batching=True),
)


def peer_server(
    peer: Peer, name: str, artifact: Path, max_batch_rows: int, max_wait_ms: float, logs: Path
) -> Server:
    """The peer's process for model `name` (answering as it), batch limits as robe serve's."""
    args: tuple[str, ...] = ("--name", name)
    if peer.batching:
        args += ("--max-batch-rows", str(max_batch_rows), "--max-wait-ms", str(max_wait_ms))
    log = logs / f"{peer.name}.log"
    return Server(ServerConfig(name, artifact, extra_args=args, log=log, module=peer.module))


def comparison(cases: list[dict[str, Any]], model: str) -> dict[str, Any]:
    """Per concurrency, robe serve's rps and p99 beside each peer's, and their ratios;
    `checks`: the issue's targets (at 16: 1.5x the bare endpoint, 4x Ray Serve, p99 at
    most 50 ms; at 1: at least the bare endpoint)."""
    ours = {
        c["concurrency"]: c
        for c in cases
        if c["model"] == model and c["runtime"] == "onnx" and c["batching"]
    }
    theirs = {(c["model"], c["concurrency"]): c for c in cases if c["model"].startswith("peer-")}
    rows = []
    for conc, robe in sorted(ours.items()):
        row: dict[str, Any] = {
            "concurrency": conc,
            "robe_rps": robe["rps"],
            "robe_p99_ms": robe["p99_ms"],
        }
        for peer in PEERS:
            other = theirs.get((peer.name, conc))
            if other is not None:
                row[peer.name] = {
                    "rps": other["rps"],
                    "p99_ms": other["p99_ms"],
                    "robe_over": robe["rps"] / other["rps"] if other["rps"] else None,
                }
        rows.append(row)
    by_conc = {r["concurrency"]: r for r in rows}

    def over(conc: int, peer: str) -> float | None:
        return by_conc.get(conc, {}).get(peer, {}).get("robe_over")

    def at_least(value: float | None, bound: float) -> bool | None:
        return None if value is None else value >= bound

    p99_16 = by_conc.get(16, {}).get("robe_p99_ms")
    return {
        "model": model,
        "runtime": "onnx",
        "rows": rows,
        "checks": {
            "c16_over_fastapi_at_least_1.5": at_least(over(16, "peer-fastapi"), 1.5),
            "c16_over_ray_serve_at_least_4": at_least(over(16, "peer-ray-serve"), 4.0),
            "c16_p99_at_most_50_ms": None if p99_16 is None else p99_16 <= 50.0,
            "c1_over_fastapi_at_least_1": at_least(over(1, "peer-fastapi"), 1.0),
        },
    }

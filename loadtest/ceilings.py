"""What `robe bench service` compares its throughput with: the model alone, in-process.

The payloads are /recommend bodies drawn from the model's own catalog; the model's
ceiling is its best rows/s in a tight loop (no server running) divided by the
candidates per request; `limit_rps = 1 / (1/floor_rps + 1/model_rps)` per model (its
best runtime), where the floor is what HTTP and validation alone allow.
"""

from __future__ import annotations

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from service.models import ServedModel


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


def limit_rps(floor_rps: float, model_rps: dict[str, dict[str, float]]) -> dict[str, float]:
    """Per model: the rate HTTP and its best runtime allow together (their times add)."""
    return {
        name: 1 / (1 / floor_rps + 1 / max(per_rt.values())) for name, per_rt in model_rps.items()
    }


def checks(cases: list[dict[str, Any]], limit: dict[str, float]) -> dict[str, Any]:
    """The issue's targets, evaluated on this run's cases."""
    out: dict[str, Any] = {}
    top = max((c["concurrency"] for c in cases), default=64)
    for name in limit:
        mine = [c for c in cases if c["model"] == name]
        batched = [c for c in mine if c["batching"]]
        unbatched = [c for c in mine if not c["batching"]]
        on = max((c["rps"] for c in batched if c["concurrency"] == top), default=0.0)
        off = max((c["rps"] for c in unbatched if c["concurrency"] == top), default=0.0)
        best = max((c["rps"] for c in mine), default=0.0)
        out[name] = {
            "batching_speedup_at_64": on / off if off else None,
            "best_rps": best,
            "best_over_limit": best / limit[name],
            "best_p99_ms_at_16_batching": min(
                (c["p99_ms"] for c in batched if c["concurrency"] == 16), default=0.0
            ),
        }
    return out

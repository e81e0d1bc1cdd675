"""The model repository: load (check, load, warm, swap in), unload, and what is known.

A load runs beside whatever serves under that name: the artifact is checked (manifest
and checksums) and loaded off the event loop, its runtime is set up and warmed at every
batch-size bucket on one of the device's inference threads one bucket at a time (so the old
model's batches run in between), and the warm-up timings seed its scoring rate. Then the
name points at the new model and a new batcher, in one step on the event loop: requests
already accepted finish on the model they started on (its batcher runs its queue out,
then its runtime is released), new ones go to the new model. A load that fails leaves
the old model serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

import numpy as np

from service.admission import ScoringRate
from service.batcher import Batcher, Infer
from service.errors import ModelLoadError
from service.metrics import REJECT_REASONS, STAGES
from service.models import ServedModel, load_model

if TYPE_CHECKING:
    from service.state import ServiceState

log = logging.getLogger("robe.service")

ENDPOINTS = ("/recommend", "/score")


async def load(state: ServiceState, name: str, path: str, *, startup: bool = False) -> ServedModel:
    """Load `path` as model `name` (named by its manifest when empty) and serve it."""
    s, m = state.settings, state.metrics
    t0 = time.perf_counter()
    try:
        model = await asyncio.to_thread(
            load_model, name, path, s.backend, state.device, s.inference_threads(), s.precision
        )
    except ModelLoadError:
        m.model_loads.labels(name or path, "failure").inc()
        raise
    try:
        if startup and model.name in state.models:
            raise ModelLoadError(f"model name {model.name!r} is used twice")
        score = model.runtime.scorer()
        rate = await _warm(state, model, score)
    except Exception:
        model.runtime.close()
        m.model_loads.labels(model.name, "failure").inc()
        raise
    device = model.runtime.device
    batcher = Batcher(
        model.name,
        score,
        state.executor(device),
        max_batch_rows=s.max_batch_rows,
        max_wait_s=s.max_wait_ms / 1000,
        max_queue_rows=s.max_queue_rows,
        batching=s.batching,
        buckets=s.buckets() if model.runtime.pad_to_buckets else None,
        metrics=m,
        rate=rate,
        admit_share=s.admit_share,
        workers=s.inference_workers(device),
        split_rows=s.split_rows,
    )
    batcher.start()
    # the swap: one step on the event loop, between two of the old batcher's batches
    old_model, old_batcher = state.models.get(model.name), state.batchers.get(model.name)
    state.models[model.name], state.batchers[model.name] = model, batcher
    state.paths[model.name] = path
    state.unavailable.pop(model.name, None)
    if not state.default:
        state.default = model.name
    if old_model is not None and old_batcher is not None:
        retire(state, old_model, old_batcher)
    _register_metrics(state, model)
    m.model_loads.labels(model.name, "success").inc()
    log.info(
        "model %s: %s v%s, %s on %s, %s embeddings (%.1fx smaller), %d items, "
        "loaded and warmed in %.1fs%s",
        model.name,
        model.path,
        model.version,
        model.runtime.backend,
        model.runtime.device,
        model.embedding,
        model.compression,
        len(model.catalog),
        time.perf_counter() - t0,
        f" (replaces v{old_model.version})" if old_model is not None else "",
    )
    return model


async def unload(state: ServiceState, name: str) -> None:
    """Stop serving `name`: new requests get 404, accepted ones finish."""
    model, batcher = state.models.pop(name), state.batchers.pop(name)
    state.unavailable[name] = "unloaded"
    if state.default == name:
        state.default = next(iter(state.models), "")
    retire(state, model, batcher)
    log.info("model %s: unloaded (v%s)", name, model.version)


def retire(state: ServiceState, model: ServedModel, batcher: Batcher) -> None:
    """Let `batcher` run its queue out, then release the runtime (in the background)."""
    _info_labels(state, model, remove=True)

    async def finish() -> None:
        await batcher.close()
        await asyncio.get_running_loop().run_in_executor(
            state.executor(model.runtime.device), model.runtime.close
        )

    task = asyncio.get_running_loop().create_task(finish())
    state.retiring.add(task)
    task.add_done_callback(state.retiring.discard)


async def _warm(state: ServiceState, model: ServedModel, score: Infer) -> ScoringRate:
    """Run every bucket on an inference thread (unless warm-up is off) through `score`
    (which sets each thread up first); each bucket's second run seeds the scoring rate."""
    loop = asyncio.get_running_loop()
    executor = state.executor(model.runtime.device)
    rate = ScoringRate()
    if not state.settings.warmup:
        return rate
    t0 = time.perf_counter()
    buckets = state.settings.buckets()
    for size in buckets:  # one job per bucket: other models' batches run in between
        seconds = await loop.run_in_executor(executor, _warm_bucket, model, score, size)
        rate.observe(size, seconds)
    log.info(
        "model %s: warmed %d batch sizes (%s) in %.1fs",
        model.name,
        len(buckets),
        ",".join(map(str, buckets)),
        time.perf_counter() - t0,
    )
    return rate


def _warm_bucket(model: ServedModel, score: Infer, size: int) -> float:
    """Score `size` rows twice (the first run sets up); seconds of the second run."""
    layout = model.layout
    if len(model.catalog):
        idx = np.arange(size) % len(model.catalog)
        dense, keys = model.catalog.dense[idx], model.catalog.keys[idx]
    else:
        dense = np.zeros((size, layout.num_dense), np.float32)
        keys = np.zeros((size, layout.num_key_columns), np.int64)
    seconds = 0.0
    for _ in range(2):
        t0 = time.perf_counter()
        scores = score(dense, keys)
        seconds = time.perf_counter() - t0
        if scores.shape != (size,) or not np.isfinite(scores).all():
            raise ModelLoadError(f"model {model.name}: warm-up at {size} rows gave bad scores")
    return seconds


def _info_labels(state: ServiceState, model: ServedModel, *, remove: bool = False) -> None:
    gauge = state.metrics.model_info
    labels = (
        model.name,
        model.version,
        model.runtime.backend,
        model.runtime.device,
        model.embedding,
        model.precision,
    )
    if remove:
        with contextlib.suppress(KeyError):  # already gone (a retired model)
            gauge.remove(*labels)
    else:
        gauge.labels(*labels).set(1)


def _register_metrics(state: ServiceState, model: ServedModel) -> None:
    """The model's series, present (at zero) from the moment it serves."""
    m = state.metrics
    _info_labels(state, model)
    m.embedding_bytes.labels(model.name).set(model.embedding_bytes)
    m.full_equivalent_bytes.labels(model.name).set(model.full_equivalent_bytes)
    for endpoint in ENDPOINTS:
        m.request_duration.labels(model.name, endpoint)
    for stage in STAGES:
        m.stage_duration.labels(model.name, stage)
    m.batch_rows.labels(model.name)
    m.batch_requests.labels(model.name)
    m.queue_rows.labels(model.name).set(0)
    m.rows_scored.labels(model.name)
    m.predicted_wait.labels(model.name)
    for reason in REJECT_REASONS:
        m.rejected.labels(model.name, reason)
    m.model_loads.labels(model.name, "failure")

"""What the service holds while it runs, and how it starts and stops.

Startup: resolve the device, load every model, start one inference thread per device and
one batcher per model, warm every batch-size bucket, then turn ready. Shutdown: turn
not-ready, let every batcher run what is queued, then release threads and runtimes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from service.batcher import Batcher
from service.errors import ModelLoadError, ModelNotFound, NotReady
from service.metrics import STAGES, Metrics
from service.models import ServedModel, load_model
from service.runtimes.base import Runtime, resolve_device
from service.settings import Settings

log = logging.getLogger("robe.service")


@dataclass
class ServiceState:
    """What the lifespan puts in `app.state.service`."""

    settings: Settings
    metrics: Metrics
    models: dict[str, ServedModel] = field(default_factory=dict)
    batchers: dict[str, Batcher] = field(default_factory=dict)
    executors: dict[str, ThreadPoolExecutor] = field(default_factory=dict)
    default: str = ""
    device: str = "cpu"
    ready: bool = False
    draining: bool = False

    def model(self, name: str | None) -> tuple[ServedModel, Batcher]:
        if not self.ready:
            raise NotReady("draining" if self.draining else "models are still loading")
        key = name if name is not None else self.default
        if key not in self.models:
            known = ", ".join(sorted(self.models))
            raise ModelNotFound(f"model {key!r} is not loaded (loaded: {known})")
        return self.models[key], self.batchers[key]


async def start_service(state: ServiceState) -> None:
    s = state.settings
    if not s.models:
        raise ModelLoadError("no model to serve: give --model ARTIFACT (or ROBE_MODELS)")
    state.device = resolve_device(s.device)
    for name, path in s.model_paths():
        t0 = time.perf_counter()
        model = await asyncio.to_thread(
            load_model, name, path, s.backend, state.device, s.inference_threads()
        )
        if model.name in state.models:
            raise ModelLoadError(f"model name {model.name!r} is used twice")
        state.models[model.name] = model
        log.info(
            "model %s: %s v%s, %s on %s, %s embeddings (%.1fx smaller), %d items, loaded in %.1fs",
            model.name,
            model.path,
            model.version,
            model.runtime.backend,
            model.runtime.device,
            model.embedding,
            model.compression,
            len(model.catalog),
            time.perf_counter() - t0,
        )
        m = state.metrics
        m.model_info.labels(
            model.name, model.version, model.runtime.backend, model.runtime.device, model.embedding
        ).set(1)
        m.embedding_bytes.labels(model.name).set(model.embedding_bytes)
        m.full_equivalent_bytes.labels(model.name).set(model.full_equivalent_bytes)
        for endpoint in ("/recommend", "/score"):
            m.request_duration.labels(model.name, endpoint)
        for stage in STAGES:
            m.stage_duration.labels(model.name, stage)
        m.batch_rows.labels(model.name)
        m.batch_requests.labels(model.name)
        m.queue_rows.labels(model.name).set(0)
        m.rows_scored.labels(model.name)
        for reason in ("queue_full", "deadline", "cancelled", "draining"):
            m.rejected.labels(model.name, reason)
    state.default = next(iter(state.models))
    buckets = s.buckets()
    for model in state.models.values():
        device = model.runtime.device
        if device not in state.executors:  # one inference thread per device
            runtimes = [m.runtime for m in state.models.values() if m.runtime.device == device]
            state.executors[device] = ThreadPoolExecutor(
                1,
                thread_name_prefix=f"infer-{device}",
                initializer=_init_thread,
                initargs=(runtimes,),
            )
        executor = state.executors[device]
        if s.warmup:
            t0 = time.perf_counter()
            await asyncio.get_running_loop().run_in_executor(executor, _warm, model, buckets)
            log.info(
                "model %s: warmed %d batch sizes (%s) in %.1fs",
                model.name,
                len(buckets),
                ",".join(map(str, buckets)),
                time.perf_counter() - t0,
            )
        batcher = Batcher(
            model.name,
            model.runtime.predict,
            executor,
            max_batch_rows=s.max_batch_rows,
            max_wait_s=s.max_wait_ms / 1000,
            max_queue_rows=s.max_queue_rows,
            batching=s.batching,
            buckets=buckets if model.runtime.pad_to_buckets else None,
            metrics=state.metrics,
        )
        batcher.start()
        state.batchers[model.name] = batcher
    state.ready = True
    log.info(
        "ready: %s (default %s), batching %s",
        ", ".join(state.models),
        state.default,
        f"on ({s.max_batch_rows} rows / {s.max_wait_ms} ms)" if s.batching else "off",
    )


def _init_thread(runtimes: list[Runtime]) -> None:
    for runtime in runtimes:
        runtime.init_thread()


def _warm(model: ServedModel, buckets: list[int]) -> None:
    layout = model.layout
    for size in buckets:
        if len(model.catalog):
            idx = np.arange(size) % len(model.catalog)
            dense, keys = model.catalog.dense[idx], model.catalog.keys[idx]
        else:
            dense = np.zeros((size, layout.num_dense), np.float32)
            keys = np.zeros((size, layout.num_key_columns), np.int64)
        scores = model.runtime.predict(dense, keys)
        if scores.shape != (size,) or not np.isfinite(scores).all():
            raise RuntimeError(f"model {model.name}: warm-up at {size} rows gave bad scores")


async def stop_service(state: ServiceState) -> None:
    state.ready = False
    state.draining = True
    await asyncio.gather(*(b.close() for b in state.batchers.values()))
    for executor in state.executors.values():
        executor.shutdown(wait=True)
    for model in state.models.values():
        model.runtime.close()
    log.info("stopped: queues drained")

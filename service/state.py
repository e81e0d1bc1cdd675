"""What the service holds while it runs, and how it starts and stops.

Startup: resolve the device, then load every model through `service.repository` (check,
load, warm every batch-size bucket on an inference thread of the device, start its batcher),
then turn ready. SIGTERM (see `service.drain`) sets `draining`: `/readyz` answers 503 and
responses carry `Connection: close`, while requests are still served. Shutdown: turn
not-ready, let every batcher run what is queued, then release threads and runtimes.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from service.batcher import Batcher
from service.errors import ModelLoadError, ModelNotFound, NotReady
from service.metrics import Metrics
from service.models import ServedModel
from service.repository import load, retire
from service.runtimes.base import resolve_device
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
    # the model repository: every name ever loaded -> its artifact path (and why it is not
    # serving, when it is not)
    paths: dict[str, str] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    load_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    retiring: set[asyncio.Task[None]] = field(default_factory=set)
    default: str = ""
    device: str = "cpu"
    ready: bool = False
    draining: bool = False  # SIGTERM seen: not ready for new traffic, still serving

    def model(self, name: str | None) -> tuple[ServedModel, Batcher]:
        if not self.ready:
            raise NotReady("draining" if self.draining else "models are still loading")
        key = name if name is not None else self.default
        if key not in self.models:
            known = ", ".join(sorted(self.models)) or "none"
            raise ModelNotFound(f"model {key!r} is not loaded (loaded: {known})")
        return self.models[key], self.batchers[key]

    def executor(self, device: str) -> ThreadPoolExecutor:
        """The device's inference workers (every model on the device shares them)."""
        if device not in self.executors:
            self.executors[device] = ThreadPoolExecutor(
                self.settings.inference_workers(device), thread_name_prefix=f"infer-{device}"
            )
        return self.executors[device]


async def start_service(state: ServiceState) -> None:
    s = state.settings
    if not s.models:
        raise ModelLoadError("no model to serve: give --model ARTIFACT (or ROBE_MODELS)")
    state.device = resolve_device(s.device)
    for name, path in s.model_paths():
        await load(state, name, path, startup=True)
    state.default = next(iter(state.models))
    state.ready = True
    log.info(
        "ready: %s (default %s), batching %s",
        ", ".join(state.models),
        state.default,
        f"on ({s.max_batch_rows} rows, max wait {s.max_wait_ms} ms)" if s.batching else "off",
    )


async def stop_service(state: ServiceState) -> None:
    state.ready = False
    state.draining = True
    for name in list(state.models):
        retire(state, state.models.pop(name), state.batchers.pop(name))
    if state.retiring:
        await asyncio.gather(*state.retiring)
    for executor in state.executors.values():
        executor.shutdown(wait=True)
    log.info("stopped: queues drained")

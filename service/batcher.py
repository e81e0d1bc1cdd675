"""Dynamic batching of rows, after Ray Serve's `_BatchQueue` (serve/batching.py).

Each request is a `_Pending` holding its rows and an asyncio future. One loop per model
takes requests off a queue into a batch that closes at `max_batch_rows` rows or
`max_wait_s` after the first row was queued (`time.monotonic()`), drops requests whose
future is already done (the client went away, or the deadline passed), runs the batch
on the device's single inference thread, and splits the scores back by row counts.
An exception from the model is set on every future of its batch. Unlike Ray, the
queue is bounded in rows: `submit` raises QueueFull past `max_queue_rows`. Each request
has a deadline (a loop timer sets DeadlineExceeded on its future). `close()` stops
intake, finishes what is queued and returns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from service.errors import DeadlineExceeded, NotReady, QueueFull
from service.metrics import Metrics
from service.rows import Dense, Keys
from service.runtimes.base import Scores

log = logging.getLogger("robe.service")

Infer = Callable[[Dense, Keys], Scores]


@dataclass(eq=False)
class _Pending:
    dense: Dense
    keys: Keys
    future: asyncio.Future[Scores]
    enqueued: float
    deadline: float
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    @property
    def rows(self) -> int:
        return int(self.keys.shape[0])


class Batcher:
    def __init__(
        self,
        model: str,
        infer: Infer,
        executor: Executor,
        *,
        max_batch_rows: int,
        max_wait_s: float,
        max_queue_rows: int,
        batching: bool = True,
        buckets: list[int] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        if max_batch_rows < 1 or max_queue_rows < 1 or max_wait_s < 0:
            raise ValueError("max_batch_rows and max_queue_rows must be >= 1, max_wait_s >= 0")
        self.model = model
        self.infer = infer
        self.executor = executor
        self.max_batch_rows = max_batch_rows
        self.max_wait_s = max_wait_s
        self.max_queue_rows = max_queue_rows
        self.batching = batching
        self.buckets = sorted(buckets) if buckets else None
        self.metrics = metrics
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        self._wakeup = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # batches run (tests and benchmarks read it)

    # -- intake ---------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.model)

    def submit(self, dense: Dense, keys: Keys, timeout_s: float) -> asyncio.Future[Scores]:
        """Queue one request's rows; its future gets the scores (or an error)."""
        if self._closing or self._task is None:
            self._reject("draining")
            raise NotReady(f"model {self.model!r} is not accepting requests (draining)")
        rows = int(keys.shape[0])
        if self._queued_rows + rows > self.max_queue_rows:
            self._reject("queue_full")
            raise QueueFull(
                f"model {self.model!r}: queue full ({self._queued_rows} rows waiting, "
                f"limit {self.max_queue_rows}); retry later"
            )
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        future: asyncio.Future[Scores] = loop.create_future()
        pending = _Pending(dense, keys, future, now, now + timeout_s)
        pending.timer = loop.call_at(loop.time() + timeout_s, self._expire, pending)
        future.add_done_callback(lambda _f: pending.timer.cancel() if pending.timer else None)
        self._queue.append(pending)
        self._queued_rows += rows
        self._set_queue_gauge()
        self._wakeup.set()
        return future

    def _expire(self, pending: _Pending) -> None:
        if not pending.future.done():
            self._reject("deadline")
            pending.future.set_exception(
                DeadlineExceeded(f"model {self.model!r}: request outwaited its deadline")
            )

    def _reject(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.rejected.labels(self.model, reason).inc()

    def _set_queue_gauge(self) -> None:
        if self.metrics is not None:
            self.metrics.queue_rows.labels(self.model).set(self._queued_rows)

    # -- the loop -------------------------------------------------------------------
    async def close(self) -> None:
        """Stop intake, run what is queued, and wait for the loop to end."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self.batching:
                await self._wait_for_batch()
            batch = self._take()
            if batch:
                await self._execute(batch)

    async def _wait_for_batch(self) -> None:
        """Return when max_batch_rows are queued or max_wait after the first row."""
        close_at = self._queue[0].enqueued + self.max_wait_s
        while self._queued_rows < self.max_batch_rows and not self._closing:
            remaining = close_at - time.monotonic()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                return

    def _take(self) -> list[_Pending]:
        """Requests for one batch, skipping the departed and the expired."""
        batch: list[_Pending] = []
        rows = 0
        while self._queue:
            head = self._queue[0]
            if head.future.done():  # cancelled by a departed client, or expired
                self._queue.popleft()
                self._queued_rows -= head.rows
                if head.future.cancelled():
                    self._reject("cancelled")
                continue
            if batch and (rows + head.rows > self.max_batch_rows or not self.batching):
                break
            self._queue.popleft()
            self._queued_rows -= head.rows
            batch.append(head)
            rows += head.rows
        self._set_queue_gauge()
        return batch

    async def _execute(self, batch: list[_Pending]) -> None:
        start = time.monotonic()
        counts = [p.rows for p in batch]
        total = sum(counts)
        if self.metrics is not None:
            m = self.metrics
            stage = m.stage_duration.labels(self.model, "queue")
            for p in batch:
                stage.observe(start - p.enqueued)
            m.batch_rows.labels(self.model).observe(total)
            m.batch_requests.labels(self.model).observe(len(batch))
        loop = asyncio.get_running_loop()
        try:
            scores, seconds = await loop.run_in_executor(self.executor, self._work, batch, total)
        except Exception as exc:  # one failure reaches every request of its batch
            log.exception("model %r: batch of %d rows failed", self.model, total)
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(exc)
            return
        finally:
            self.batches += 1
        if scores.shape[0] < total:
            err = RuntimeError(f"model returned {scores.shape[0]} scores for {total} rows")
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(err)
            return
        if self.metrics is not None:
            self.metrics.stage_duration.labels(self.model, "inference").observe(seconds)
            self.metrics.rows_scored.labels(self.model).inc(total)
        at = 0
        for p, n in zip(batch, counts, strict=True):
            if not p.future.done():
                p.future.set_result(scores[at : at + n])
            at += n

    def _work(self, batch: list[_Pending], total: int) -> tuple[Scores, float]:
        """In the inference thread: concatenate, pad to a bucket, run."""
        if len(batch) == 1:
            dense, keys = batch[0].dense, batch[0].keys
        else:
            dense = np.concatenate([p.dense for p in batch])
            keys = np.concatenate([p.keys for p in batch])
        if self.buckets is not None:
            size = next((b for b in self.buckets if b >= total), total)
            if size > total:
                dense = np.concatenate(
                    [dense, np.zeros((size - total, dense.shape[1]), dense.dtype)]
                )
                keys = np.concatenate([keys, np.repeat(keys[-1:], size - total, axis=0)])
        t0 = time.perf_counter()
        scores = self.infer(dense, keys)
        return scores, time.perf_counter() - t0

"""Dynamic batching of rows, after Ray Serve's `_BatchQueue` (serve/batching.py), made
work-conserving and with admission by predicted wait.

Each request is a `_Pending` holding its rows and an asyncio future. One loop per model
takes what is queued into a batch the moment an inference worker is free: an idle
worker runs a lone request at once, and rows accumulate only while every worker runs a
batch (up to `max_batch_rows`; with `max_wait_s` > 0 a batch also waits that long after
its first row for company, an option for devices where that is measured to help). The
loop drops requests whose future is already done (the client went away, or the
deadline passed) or that can no longer finish before their deadline, runs the batch on
one of the device's `workers` inference threads, and splits the scores back by row
counts. A batch taken with nothing else queued and several workers idle runs in
contiguous parts side by side, one per idle worker of at least `split_rows` rows
(`service.split`); it counts as one batch (`batches`, the batch metrics), each part as
one model call (`parts`, the inference stage, the scoring rate). An exception from the
model (in any part) is set on every future of its batch, once.

Admission: `admit` predicts the request's wait (the rest of the running batches and the
rows queued ahead, shared among the workers, then its own rows) from the model's
measured scoring rate (`service.admission`: the wall time of a batch as the workers run
side by side) and refuses at once (Overloaded, with Retry-After) a request that
could not finish within `admit_share` of its deadline (the rest absorbs the error of the
prediction), before the request's rows are even built; the queue is also bounded in
rows (QueueFull).
Each admitted request has a deadline (a loop timer sets DeadlineExceeded on its
future). `close()` stops intake, finishes what is queued and returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from service.admission import ScoringRate
from service.errors import DeadlineExceeded, NotReady, Overloaded, QueueFull
from service.metrics import Metrics
from service.rows import Dense, Keys
from service.runtimes.base import Scores
from service.split import Join, bounds, rows_of

log = logging.getLogger("robe.service")

Infer = Callable[[Dense, Keys], Scores]


@dataclass(frozen=True)
class Admission:
    """A request admitted by `Batcher.admit`: its rows, times and predicted cost."""

    rows: int
    now: float
    deadline: float
    cost: float
    tail: int
    idle: bool  # admitted to an idle worker: runs whatever the estimate says


@dataclass(eq=False)
class _Pending:
    dense: Dense
    keys: Keys
    future: asyncio.Future[Scores]
    enqueued: float
    deadline: float
    cost: float  # predicted seconds this request adds to the queue's work
    idle: bool = False  # admitted to an idle worker (see `admit`): never dropped as late
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    @property
    def rows(self) -> int:
        return int(self.keys.shape[0])


def start_delay(free: list[float], queued: float) -> float:
    """When a request queued behind `queued` seconds of work starts, with workers free in
    `free` seconds each: the level at which the queued work fills the workers up (the
    work ahead, shared; with one worker, its free time plus the queue)."""
    free = sorted(free)
    total = 0.0
    for k, f in enumerate(free, start=1):
        total += f
        level = (queued + total) / k
        if k == len(free) or level <= free[k]:
            return level
    return queued  # no worker at all: not reached (a batcher has at least one)


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
        rate: ScoringRate | None = None,
        admit_share: float = 1.0,
        workers: int = 1,
        split_rows: int = 0,
    ) -> None:
        if max_batch_rows < 1 or max_queue_rows < 1 or workers < 1:
            raise ValueError("max_batch_rows, max_queue_rows and workers must be >= 1")
        if max_wait_s < 0 or split_rows < 0:
            raise ValueError("max_wait_s and split_rows must be >= 0")
        self.model = model
        self.infer = infer
        self.executor = executor
        self.max_batch_rows = max_batch_rows
        self.max_wait_s = max_wait_s
        self.max_queue_rows = max_queue_rows
        self.batching = batching
        self.buckets = sorted(buckets) if buckets else None
        self.metrics = metrics
        self.rate = rate if rate is not None else ScoringRate()
        self.admit_share = admit_share  # of the deadline the predicted wait may fill
        self.workers = workers  # batches run at once (the executor has as many threads)
        self.split_rows = split_rows  # a lone batch's parts on idle workers (0: never split)
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        self._queued_seconds = 0.0  # sum of the queued requests' costs
        self._tail_rows = 0  # rows of the last batch the queue would form
        self._running: dict[object, float] = {}  # each running batch -> its predicted end
        self._wakeup = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # batches run (tests and benchmarks read it)
        self.parts = 0  # model calls they took (more than batches when split)

    # -- intake ---------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.model)

    def predicted_wait(self, rows: int) -> float:
        """Seconds until a request of `rows` submitted now would have its scores."""
        return self._predict(rows, time.monotonic())[0]

    def _predict(self, rows: int, now: float) -> tuple[float, float, int]:
        """(predicted wait, this request's cost, the queue's last batch with it)."""
        tail = self._tail_rows
        if self.batching and tail and tail + rows <= self.max_batch_rows:
            cost = max(0.0, self.rate.seconds(tail + rows) - self.rate.seconds(tail))
            tail += rows
        else:
            cost, tail = self.rate.seconds(rows), rows
        busy = [max(0.0, end - now) for end in self._running.values()]
        free = busy + [0.0] * (self.workers - len(busy))
        return start_delay(free, self._queued_seconds) + cost, cost, tail

    def admit(self, rows: int, timeout_s: float) -> Admission:
        """Refuse now (NotReady, QueueFull, Overloaded) a request of `rows` that could not
        be scored before `timeout_s`, before its rows are built; else its admission, to
        `enqueue` with no await in between (nothing else runs on the loop meanwhile)."""
        if self._closing or self._task is None:
            self._reject("draining")
            raise NotReady(f"model {self.model!r} is not accepting requests (draining)")
        if self._queued_rows + rows > self.max_queue_rows:
            self._reject("queue_full")
            raise QueueFull(
                f"model {self.model!r}: queue full ({self._queued_rows} rows waiting, "
                f"limit {self.max_queue_rows}); retry later"
            )
        now = time.monotonic()
        wait, cost, tail = self._predict(rows, now)
        if self.metrics is not None:
            self.metrics.predicted_wait.labels(self.model).observe(wait)
        # An idle worker takes any request: were the estimate too slow, refusing everything
        # would keep it from ever measuring again.
        idle = not self._queue and len(self._running) < self.workers
        if wait > timeout_s * self.admit_share and not idle:
            self._reject("predicted_wait")
            raise Overloaded(
                f"model {self.model!r}: predicted wait {wait * 1000:.0f} ms "
                f"({self._queued_rows} rows ahead) is over {self.admit_share:.0%} of the "
                f"deadline of {timeout_s * 1000:.0f} ms; retry later",
                retry_after_s=max(1, math.ceil(wait - timeout_s * self.admit_share)),
            )
        return Admission(rows, now, now + timeout_s, cost, tail, idle)

    def enqueue(self, admission: Admission, dense: Dense, keys: Keys) -> asyncio.Future[Scores]:
        """Queue an admitted request's rows; its future gets the scores (or an error)."""
        if int(keys.shape[0]) != admission.rows:
            raise ValueError(f"admitted {admission.rows} rows, given {keys.shape[0]}")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Scores] = loop.create_future()
        a = admission
        pending = _Pending(dense, keys, future, a.now, a.deadline, a.cost, a.idle)
        pending.timer = loop.call_at(loop.time() + a.deadline - a.now, self._expire, pending)
        future.add_done_callback(lambda _f: pending.timer.cancel() if pending.timer else None)
        self._queue.append(pending)
        self._queued_rows += a.rows
        self._queued_seconds += a.cost
        self._tail_rows = a.tail
        self._set_queue_gauge()
        if len(self._running) < self.workers:  # else the next batch's end wakes the loop
            self._wakeup.set()
        return future

    def submit(self, dense: Dense, keys: Keys, timeout_s: float) -> asyncio.Future[Scores]:
        """`admit` and `enqueue` in one step, for rows already built."""
        return self.enqueue(self.admit(int(keys.shape[0]), timeout_s), dense, keys)

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
            if not self._queue and self._closing:
                while self._running:  # what runs finishes before close returns
                    self._wakeup.clear()
                    await self._wakeup.wait()
                return
            if not self._queue or len(self._running) >= self.workers:
                self._wakeup.clear()  # set by enqueue, close, and every batch's end
                await self._wakeup.wait()
                continue
            if self.batching and self.max_wait_s > 0:
                await self._wait_for_batch()
            batch = self._take()
            if batch:
                self._start(batch)

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

    def _pop(self) -> _Pending:
        head = self._queue.popleft()
        self._queued_rows -= head.rows
        self._queued_seconds -= head.cost
        if not self._queue:  # start the accounting afresh (no drift from rounding)
            self._queued_seconds, self._tail_rows = 0.0, 0
        else:
            self._tail_rows = min(self._tail_rows, self._queued_rows)
        return head

    def _take(self) -> list[_Pending]:
        """Requests for one batch, skipping the departed, the expired and the late."""
        batch: list[_Pending] = []
        rows = 0
        now = time.monotonic()
        while self._queue:
            head = self._queue[0]
            if head.future.done():  # cancelled by a departed client, or expired
                self._pop()
                if head.future.cancelled():
                    self._reject("cancelled")
                continue
            if batch and (rows + head.rows > self.max_batch_rows or not self.batching):
                break
            self._pop()
            if not head.idle and now + self.rate.seconds(rows + head.rows) > head.deadline:
                # it could not finish in time: drop it before it costs a batch any work
                self._reject("late")
                head.future.set_exception(
                    DeadlineExceeded(
                        f"model {self.model!r}: request can no longer make its deadline"
                    )
                )
                continue
            batch.append(head)
            rows += head.rows
        self._set_queue_gauge()
        return batch

    def _start(self, batch: list[_Pending]) -> None:
        """Hand the batch to a worker now (or, alone on idle workers, its parts to as
        many: `service.split`); `_done` takes each part's scores on the loop."""
        start = time.monotonic()
        total = sum(p.rows for p in batch)
        if self.metrics is not None:
            m = self.metrics
            stage = m.stage_duration.labels(self.model, "queue")
            for p in batch:
                stage.observe(start - p.enqueued)
            m.batch_rows.labels(self.model).observe(total)
            m.batch_requests.labels(self.model).observe(len(batch))
        idle = 1 if self._queue else self.workers - len(self._running)
        join = Join(bounds(total, idle, self.split_rows))
        # Submitted at once, no task in between: the worker starts before the loop runs
        # the handlers that the last batch's scores woke. The worker hands its result
        # back with one call_soon_threadsafe (`_done`), not run_in_executor's two
        # chained futures: on a small CPU box the loop thread is the serial part.
        loop = asyncio.get_running_loop()
        for index, (lo, hi) in enumerate(join.parts):
            token = object()  # one per part: each occupies a worker
            self._running[token] = start + self.rate.seconds(hi - lo)
            self.executor.submit(self._work, loop, token, batch, join, index, start)
        self.parts += len(join.parts)

    def _done(
        self,
        token: object,
        batch: list[_Pending],
        join: Join,
        index: int,
        start: float,
        result: tuple[Scores, float] | BaseException,
    ) -> None:
        del self._running[token]
        # the loop forms the next batch before the responses of this one are written
        self._wakeup.set()
        lo, hi = join.parts[index]
        if not isinstance(result, BaseException):
            scores, seconds = result
            # the rate is one worker's: a part's rows in the time they took (as the
            # predicted ends in `_running`, one per part, and `start_delay` assume)
            self.rate.observe(hi - lo, time.monotonic() - start)
            if self.metrics is not None:
                self.metrics.stage_duration.labels(self.model, "inference").observe(seconds)
            if scores.shape[0] < hi - lo:
                result = RuntimeError(f"model returned {scores.shape[0]} scores for {hi - lo} rows")
        if isinstance(result, BaseException):
            if join.add(index, None):  # one failure reaches every request of its batch, once
                log.error(
                    "model %r: batch of %d rows failed", self.model, join.rows, exc_info=result
                )
                self._fail(batch, result)
        else:
            join.add(index, result[0][: hi - lo])  # without the bucket's padding
        if join.done:
            self.batches += 1
            if not join.failed:
                self._deliver(batch, join.scores())

    def _deliver(self, batch: list[_Pending], scores: Scores) -> None:
        """The batch's scores, in row order, back to its requests by row count."""
        if self.metrics is not None:
            self.metrics.rows_scored.labels(self.model).inc(scores.shape[0])
        at = 0
        for p in batch:
            if not p.future.done():
                p.future.set_result(scores[at : at + p.rows])
            at += p.rows

    @staticmethod
    def _fail(batch: list[_Pending], exc: BaseException) -> None:
        for p in batch:
            if not p.future.done():
                p.future.set_exception(exc)

    def _work(
        self,
        loop: asyncio.AbstractEventLoop,
        token: object,
        batch: list[_Pending],
        join: Join,
        index: int,
        start: float,
    ) -> None:
        """In the inference thread: score one part, then hand the result to the loop."""
        result: tuple[Scores, float] | BaseException
        try:
            lo, hi = join.parts[index]
            result = self._score(*rows_of([(p.dense, p.keys) for p in batch], lo, hi))
        except BaseException as exc:  # delivered to the batch's requests by `_done`
            result = exc
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(self._done, token, batch, join, index, start, result)

    def _score(self, dense: Dense, keys: Keys) -> tuple[Scores, float]:
        """Pad to a bucket, run."""
        total = int(keys.shape[0])
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

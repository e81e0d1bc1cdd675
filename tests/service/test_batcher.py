"""The batcher alone, on a real (small) model, in the manner of Ray Serve's batching tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from service.admission import ScoringRate
from service.batcher import Batcher, start_delay
from service.errors import DeadlineExceeded, NotReady, Overloaded, QueueFull
from service.metrics import Metrics
from service.models import ServedModel, load_model


@pytest.fixture(scope="module")
def model(small_run: Path) -> ServedModel:
    served = load_model("robe", str(small_run), "auto", "cpu", 1)
    served.runtime.predict(*rows(served, 4))  # compile the kernels before any timing
    return served


def rows(model: ServedModel, n: int, start: int = 0) -> tuple[Any, Any]:
    idx = (np.arange(n) + start) % len(model.catalog)
    return model.catalog.dense[idx], model.catalog.keys[idx]


def run(model: ServedModel, body: Callable[[Batcher], Awaitable[None]], **kwargs: Any) -> Batcher:
    options: dict[str, Any] = {"max_batch_rows": 10, "max_wait_s": 0.2, "max_queue_rows": 100}
    options.update(kwargs)
    infer = options.pop("infer", model.runtime.predict)
    with ThreadPoolExecutor(options.get("workers", 1)) as executor:

        async def main() -> Batcher:
            batcher = Batcher("robe", infer, executor, **options)
            batcher.start()
            try:
                await body(batcher)
            finally:
                await batcher.close()
            return batcher

        return asyncio.run(main())


def test_nothing_completes_before_the_batch_closes(model: ServedModel) -> None:
    async def body(b: Batcher) -> None:
        futures = [b.submit(*rows(model, 2, i), timeout_s=60) for i in range(3)]
        await asyncio.sleep(0.05)  # lets the worker run: it must not, the wait is an hour
        assert not any(f.done() for f in futures), "a batch ran before max rows or max wait"
        futures.append(b.submit(*rows(model, 4, 10), timeout_s=60))  # 10 rows: closes now
        results = await asyncio.wait_for(asyncio.gather(*futures), 60)  # a hang, not a speed
        assert [r.shape[0] for r in results] == [2, 2, 2, 4]
        # results are matched to requests by count: the same rows alone give the same scores
        alone = model.runtime.predict(*rows(model, 4, 10))
        np.testing.assert_allclose(results[3], alone, rtol=1e-5, atol=1e-6)

    # max wait an hour: the batch can close only on its row count, however slow the machine
    assert run(model, body, max_wait_s=3600.0).batches == 1


def test_batch_closes_at_max_wait(model: ServedModel) -> None:
    async def body(b: Batcher) -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        result = await b.submit(*rows(model, 3), timeout_s=5)
        assert result.shape == (3,)
        assert loop.time() - t0 >= 0.05

    run(model, body, max_wait_s=0.05)


def test_one_failure_reaches_every_request_of_its_batch(model: ServedModel) -> None:
    async def body(b: Batcher) -> None:
        good = b.submit(*rows(model, 2), timeout_s=5)
        dense, keys = rows(model, 2)
        bad = b.submit(dense, keys[:, :3], timeout_s=5)  # one sparse column short
        results = await asyncio.gather(good, bad, return_exceptions=True)
        assert all(isinstance(r, Exception) for r in results)
        assert type(results[0]) is type(results[1])
        # the batcher keeps serving after a failed batch
        assert (await b.submit(*rows(model, 2), timeout_s=5)).shape == (2,)

    run(model, body, max_wait_s=0.05)


def test_full_queue_rejects(model: ServedModel) -> None:
    metrics = Metrics()

    async def body(b: Batcher) -> None:
        first = b.submit(*rows(model, 4), timeout_s=5)
        with pytest.raises(QueueFull, match="queue full"):
            b.submit(*rows(model, 3), timeout_s=5)
        assert (await first).shape == (4,)

    run(model, body, max_queue_rows=6, metrics=metrics)
    assert metrics.rejected.labels("robe", "queue_full")._value.get() == 1


def test_deadline_expires(model: ServedModel) -> None:
    metrics = Metrics()

    async def body(b: Batcher) -> None:
        future = b.submit(*rows(model, 2), timeout_s=0.02)
        with pytest.raises(DeadlineExceeded):
            await future

    batcher = run(model, body, max_wait_s=0.3, metrics=metrics)
    assert batcher.batches == 0  # the expired request never ran
    assert metrics.rejected.labels("robe", "deadline")._value.get() == 1


def test_cancelled_request_is_dropped(model: ServedModel) -> None:
    metrics = Metrics()

    async def body(b: Batcher) -> None:
        kept = b.submit(*rows(model, 2), timeout_s=5)
        gone = b.submit(*rows(model, 5), timeout_s=5)
        gone.cancel()  # its client went away
        assert (await kept).shape == (2,)

    run(model, body, max_wait_s=0.05, metrics=metrics)
    assert metrics.rejected.labels("robe", "cancelled")._value.get() == 1
    assert metrics.rows_scored.labels("robe")._value.get() == 2


def test_batching_off_runs_one_request_per_batch(model: ServedModel) -> None:
    async def body(b: Batcher) -> None:
        futures = [b.submit(*rows(model, 2, i), timeout_s=5) for i in range(4)]
        await asyncio.gather(*futures)

    assert run(model, body, batching=False).batches == 4


def test_close_drains_the_queue_and_stops_intake(model: ServedModel) -> None:
    with ThreadPoolExecutor(1) as executor:

        async def main() -> None:
            b = Batcher(
                "robe",
                model.runtime.predict,
                executor,
                max_batch_rows=4,
                max_wait_s=10.0,
                max_queue_rows=100,
            )
            b.start()
            futures = [b.submit(*rows(model, 3, i), timeout_s=5) for i in range(3)]
            await b.close()  # does not wait the 10 s: closing closes the open batch
            assert all(f.done() and f.result().shape == (3,) for f in futures)
            with pytest.raises(NotReady):
                b.submit(*rows(model, 1), timeout_s=5)

        asyncio.run(main())


# -- work-conserving batching and admission by predicted wait ---------------------------
def slow(model: ServedModel, seconds: float) -> Callable[[Any, Any], Any]:
    def infer(dense: Any, keys: Any) -> Any:
        time.sleep(seconds)
        return model.runtime.predict(dense, keys)

    return infer


def test_idle_worker_runs_a_lone_request_at_once(model: ServedModel) -> None:
    async def body(b: Batcher) -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        assert (await b.submit(*rows(model, 3), timeout_s=5)).shape == (3,)
        assert loop.time() - t0 < 0.15  # no max_wait (0.2 s before) spent waiting for company

    assert run(model, body, max_wait_s=0.0).batches == 1


def test_rows_gather_while_a_batch_runs(model: ServedModel) -> None:
    async def body(b: Batcher) -> None:
        first = b.submit(*rows(model, 2), timeout_s=5)
        await asyncio.sleep(0.05)  # the first batch is running (0.2 s)
        later = [b.submit(*rows(model, 2, i), timeout_s=5) for i in range(4)]
        results = await asyncio.gather(first, *later)
        assert [r.shape[0] for r in results] == [2] * 5

    batcher = run(model, body, max_wait_s=0.0, infer=slow(model, 0.2))
    assert batcher.batches == 2  # the four that came during the first batch ran as one


def test_admission_refuses_what_cannot_finish_in_time(model: ServedModel) -> None:
    metrics = Metrics()
    rate = ScoringRate()
    rate.observe(1, 1.0)  # 1 row/s: 8 queued rows take 8 s

    async def body(b: Batcher) -> None:
        # an idle worker takes even what the estimate says is too slow (8 s > 0.7 * 5 s;
        # the deadline is far enough that a loaded machine still scores it in time)
        first = b.submit(*rows(model, 8), timeout_s=5)
        assert b.predicted_wait(8) > 15  # the rest of the first, then its own 8 s
        with pytest.raises(Overloaded, match="predicted wait") as info:
            b.submit(*rows(model, 8), timeout_s=5 / 0.7 * 0.1)  # 0.7 of it: 0.1 s
        assert info.value.status == 503 and int(info.value.headers["Retry-After"]) >= 1
        assert (await first).shape == (8,)  # the admitted one is served (and measured)
        assert b.rate.seconds(8) < 8

    run(model, body, max_wait_s=0.0, metrics=metrics, rate=rate, admit_share=0.7)
    assert metrics.rejected.labels("robe", "predicted_wait")._value.get() == 1
    assert metrics.predicted_wait.labels("robe")._sum.get() > 1.0  # both observed


def test_a_request_that_can_no_longer_make_it_is_dropped_before_scoring(
    model: ServedModel,
) -> None:
    metrics = Metrics()

    async def body(b: Batcher) -> None:
        first = b.submit(*rows(model, 2), timeout_s=5)
        await asyncio.sleep(0.05)  # first runs for 0.3 s; the rate is learnt after it
        late = b.submit(*rows(model, 2), timeout_s=0.4)  # ends at 0.45 s: past 0.4 s
        assert (await first).shape == (2,)
        with pytest.raises(DeadlineExceeded, match="can no longer make its deadline"):
            await late

    batcher = run(model, body, max_wait_s=0.0, infer=slow(model, 0.3), metrics=metrics)
    assert batcher.batches == 1
    assert metrics.rejected.labels("robe", "late")._value.get() == 1


# -- several inference workers --------------------------------------------------------
def gated(
    model: ServedModel, gate: threading.Barrier | threading.Event
) -> Callable[[Any, Any], Any]:
    """A model that scores only once `gate` lets it (a barrier: as many batches at once)."""

    def infer(dense: Any, keys: Any) -> Any:
        gate.wait(timeout=30)  # a barrier breaks (an error) unless batches run side by side
        return model.runtime.predict(dense, keys)

    return infer


def test_workers_run_batches_side_by_side(model: ServedModel) -> None:
    async def body(b: Batcher) -> None:
        first = b.submit(*rows(model, 2), timeout_s=60)
        await asyncio.sleep(0.05)  # the first batch has started, and waits for a second
        second = b.submit(*rows(model, 3), timeout_s=60)
        results = await asyncio.wait_for(asyncio.gather(first, second), 60)
        assert [r.shape[0] for r in results] == [2, 3]

    barrier = threading.Barrier(2)
    batcher = run(model, body, max_wait_s=0.0, workers=2, infer=gated(model, barrier))
    assert batcher.batches == 2 and not barrier.broken


def test_predicted_wait_shares_the_work_among_workers(model: ServedModel) -> None:
    rate = ScoringRate()
    rate.observe(8, 0.8)  # 10 rows/s: a batch of 8 rows takes 0.8 s
    gate = threading.Event()  # batches run until the test lets them end

    async def body(b: Batcher) -> None:
        futures = [b.submit(*rows(model, 8), timeout_s=60)]
        await asyncio.sleep(0)  # the loop hands it to a worker
        # the other is free: a request waits for its own rows only
        assert b.predicted_wait(8) == pytest.approx(0.8, abs=0.05)
        futures.append(b.submit(*rows(model, 8), timeout_s=60))
        await asyncio.sleep(0)  # the loop hands it to the second worker
        # both busy for ~0.8 s: the first to finish takes it
        assert b.predicted_wait(8) == pytest.approx(1.6, abs=0.05)
        futures.append(b.submit(*rows(model, 8), timeout_s=60))  # queued: 0.8 s of work
        # the queued 0.8 s and the two running batches' 1.6 s, shared: 1.2 s, then its own
        assert b.predicted_wait(8) == pytest.approx(2.0, abs=0.05)
        gate.set()
        await asyncio.wait_for(asyncio.gather(*futures), 60)

    run(
        model,
        body,
        max_batch_rows=10,
        max_wait_s=0.0,
        workers=2,
        rate=rate,
        infer=gated(model, gate),
    )


def test_start_delay() -> None:
    assert start_delay([0.5], 0.3) == pytest.approx(0.8)  # one worker: its rest, then the queue
    assert start_delay([0.8, 0.0], 0.0) == 0.0  # a free worker
    assert start_delay([0.8, 0.0], 0.4) == pytest.approx(0.4)  # the free one takes the queue
    assert start_delay([0.8, 0.0], 1.2) == pytest.approx(1.0)  # then both share the rest


def test_scoring_rate_by_band() -> None:
    rate = ScoringRate(alpha=0.5)
    assert rate.seconds(100) == 0.0  # nothing measured: admit
    rate.observe(100, 0.01)  # 10k rows/s in band 7 (64..127)
    rate.observe(2, 0.002)  # 1k rows/s in band 2
    assert rate.seconds(64) == pytest.approx(64 / 10_000)
    assert rate.seconds(3) == pytest.approx(3 / 1_000)
    assert rate.seconds(4096) == pytest.approx(4096 / 10_000)  # nearest measured band
    rate.observe(100, 0.02)  # 5k rows/s: the estimate moves half way
    assert rate.seconds(100) == pytest.approx(100 / 7_500)

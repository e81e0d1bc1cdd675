"""Splitting a lone batch over idle workers (service.split, in service.batcher)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from loadtest.scrape import samples
from service.admission import ScoringRate, band
from service.app import build_app
from service.batcher import Batcher
from service.metrics import Metrics
from service.models import load_model
from service.rows import Dense, Keys
from service.runtimes.base import Scores
from service.settings import Settings
from service.split import Join, bounds, rows_of


def test_bounds() -> None:
    assert bounds(100, 2, 32) == [(0, 50), (50, 100)]
    assert bounds(101, 2, 32) == [(0, 50), (50, 101)]
    assert bounds(100, 4, 32) == [(0, 33), (33, 66), (66, 100)]  # each part >= 32 rows
    assert bounds(63, 2, 32) == [(0, 63)]  # two parts would be under 32 rows
    assert bounds(100, 1, 32) == [(0, 100)]  # one idle worker: whole
    assert bounds(100, 2, 0) == [(0, 100)]  # 0: never split
    assert bounds(1, 2, 1) == [(0, 1)]


def test_rows_of_takes_rows_across_requests() -> None:
    pieces = [
        (np.arange(n, dtype=np.float32)[:, None] + at, np.arange(n)[:, None] + at)
        for at, n in ((0, 3), (3, 4), (7, 5))
    ]
    dense, keys = rows_of(pieces, 2, 9)
    assert dense[:, 0].tolist() == list(range(2, 9)) and keys[:, 0].tolist() == list(range(2, 9))
    dense, keys = rows_of(pieces, 3, 7)  # one request's rows: a view, no copy
    assert keys.base is pieces[1][1]


def test_join_in_row_order() -> None:
    join = Join([(0, 2), (2, 5)])
    join.add(1, np.array([2, 3, 4], np.float32))
    assert not join.done
    join.add(0, np.array([0, 1], np.float32))
    assert join.done and join.scores().tolist() == [0, 1, 2, 3, 4]


# -- in the batcher -------------------------------------------------------------------
class Recorder:
    """A model that scores a row as its first dense value (its index in the test), and
    records each call's row count and thread; with `barrier`, calls must run side by
    side (the barrier breaks otherwise), and with `fail_from`, a call whose first row is
    at or past that index raises."""

    def __init__(self, barrier: int = 0, fail_from: int | None = None) -> None:
        self.calls: list[tuple[int, int]] = []
        self.barrier = threading.Barrier(barrier) if barrier else None
        self.fail_from = fail_from
        self.lock = threading.Lock()

    def __call__(self, dense: Dense, keys: Keys) -> Scores:
        with self.lock:
            self.calls.append((int(keys.shape[0]), threading.get_ident()))
        if self.barrier is not None:
            self.barrier.wait(timeout=30)
        if self.fail_from is not None and dense[0, 0] >= self.fail_from:
            raise RuntimeError("part failed")
        return dense[:, 0].astype(np.float32)


class Held:
    """A model whose calls record their row counts as they start (`started`), then wait
    for `gate` before scoring a row as its first dense value."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started: list[int] = []

    def __call__(self, dense: Dense, keys: Keys) -> Scores:
        self.started.append(int(keys.shape[0]))
        self.gate.wait(timeout=30)
        return dense[:, 0].astype(np.float32)


def numbered(n: int, start: int = 0) -> tuple[Dense, Keys]:
    dense = np.zeros((n, 3), np.float32)
    dense[:, 0] = np.arange(start, start + n)
    return dense, np.zeros((n, 4), np.int64)


def run(body: Callable[[Batcher], Awaitable[None]], infer: Any, **kwargs: Any) -> Batcher:
    options: dict[str, Any] = {
        "max_batch_rows": 256,
        "max_wait_s": 0.0,
        "max_queue_rows": 4096,
        "workers": 2,
        "split_rows": 32,
    }
    options.update(kwargs)
    with ThreadPoolExecutor(options["workers"]) as executor:

        async def main() -> Batcher:
            batcher = Batcher("robe", infer, executor, **options)
            batcher.start()
            try:
                await asyncio.wait_for(body(batcher), 60)  # a hang, not a speed
            finally:
                await batcher.close()
            return batcher

        return asyncio.run(main())


def test_a_lone_request_runs_in_parts_side_by_side_in_row_order() -> None:
    infer = Recorder(barrier=2)  # breaks unless the two parts run at once
    metrics = Metrics()
    rate = ScoringRate()

    async def body(b: Batcher) -> None:
        scores = await b.submit(*numbered(100), timeout_s=30)
        assert scores.tolist() == list(range(100))

    batcher = run(body, infer, metrics=metrics, rate=rate)
    assert [rows for rows, _ in infer.calls] == [50, 50]
    assert len({thread for _, thread in infer.calls}) == 2
    assert infer.barrier is not None and not infer.barrier.broken
    assert (batcher.batches, batcher.parts) == (1, 2)
    # one batch of 100 rows; two model calls; the rate learnt is one worker's on 50 rows
    assert metrics.batch_rows.labels("robe")._sum.get() == 100
    assert metrics.batch_requests.labels("robe")._sum.get() == 1
    inference = metrics.stage_duration.labels("robe", "inference")
    assert sum(b.get() for b in inference._buckets) == 2
    assert metrics.rows_scored.labels("robe")._value.get() == 100
    assert rate.rate(50) is not None and set(rate._rate) == {band(50)}


def test_requests_taken_together_split_across_them() -> None:
    infer = Recorder()

    async def body(b: Batcher) -> None:
        # queued in one step: one batch of 3 requests, 90 rows, cut at row 45
        futures = [b.submit(*numbered(30, start), timeout_s=30) for start in (0, 30, 60)]
        results = await asyncio.gather(*futures)
        assert [r.tolist() for r in results] == [list(range(s, s + 30)) for s in (0, 30, 60)]

    run(body, infer)
    assert sorted(rows for rows, _ in infer.calls) == [45, 45]


def test_no_split_under_load_or_below_the_minimum() -> None:
    held = Held()
    gate, started = held.gate, held.started  # rows of each call, as it starts

    async def body(b: Batcher) -> None:
        futures = [b.submit(*numbered(100, 100 * i), timeout_s=30) for i in range(3)]
        while len(started) < 2:
            await asyncio.sleep(0.01)
        # the first batch (100 rows, the next does not fit) was taken with two queued, the
        # second with one worker idle: both run whole; the third waits for a worker
        assert started == [100, 100]
        gate.set()
        results = await asyncio.gather(*futures)
        assert [r.tolist() for r in results] == [
            list(range(100 * i, 100 * i + 100)) for i in range(3)
        ]
        started.clear()
        # both idle again, but 63 rows make no two parts of 32
        assert (await b.submit(*numbered(63), timeout_s=30)).shape == (63,)
        assert started == [63]

    run(body, held, max_batch_rows=100)


def test_no_split_when_off_or_with_one_worker() -> None:
    for options in ({"split_rows": 0}, {"workers": 1}):
        infer = Recorder()

        async def body(b: Batcher) -> None:
            assert (await b.submit(*numbered(100), timeout_s=30)).shape == (100,)

        run(body, infer, **options)
        assert [rows for rows, _ in infer.calls] == [100]


def test_a_failing_part_fails_the_batch_once(caplog: pytest.LogCaptureFixture) -> None:
    infer = Recorder(fail_from=50)  # the second part fails

    async def body(b: Batcher) -> None:
        with pytest.raises(RuntimeError, match="part failed"):
            await b.submit(*numbered(100), timeout_s=30)
        # the batcher keeps serving (and splitting) after a failed part
        assert (await b.submit(*numbered(40), timeout_s=30)).shape == (40,)

    with caplog.at_level(logging.ERROR, "robe.service"):
        batcher = run(body, infer)
    assert [r.getMessage() for r in caplog.records] == ["model 'robe': batch of 100 rows failed"]
    assert batcher.batches == 2 and batcher.parts == 3
    assert sorted(rows for rows, _ in infer.calls) == [40, 50, 50]


def test_each_part_pads_to_its_bucket() -> None:
    infer = Recorder()

    async def body(b: Batcher) -> None:
        assert (await b.submit(*numbered(100), timeout_s=30)).tolist() == list(range(100))

    run(body, infer, buckets=[1, 2, 4, 8, 16, 32, 64, 128, 256])
    assert [rows for rows, _ in infer.calls] == [64, 64]


def test_parts_occupy_workers_and_close_waits_for_them() -> None:
    held = Held()
    gate = held.gate
    rate = ScoringRate()
    rate.observe(50, 0.5)  # 100 rows/s: a part of 50 rows takes 0.5 s

    with ThreadPoolExecutor(2) as executor:

        async def main() -> None:
            b = Batcher(
                "robe",
                held,
                executor,
                max_batch_rows=256,
                max_wait_s=0.0,
                max_queue_rows=4096,
                workers=2,
                split_rows=32,
                rate=rate,
            )
            b.start()
            future = b.submit(*numbered(100), timeout_s=30)
            await asyncio.sleep(0)  # the loop hands both parts to the workers
            # both workers busy for 0.5 s: a request of 50 rows waits for one, then runs
            assert b.predicted_wait(50) == pytest.approx(1.0, abs=0.05)
            closing = asyncio.ensure_future(b.close())
            await asyncio.sleep(0.05)
            assert not closing.done() and not future.done()  # close waits for the parts
            gate.set()
            await asyncio.wait_for(closing, 30)
            assert future.result().tolist() == list(range(100))

        asyncio.run(main())


def test_a_cancelled_request_leaves_its_parts_to_finish() -> None:
    held = Held()
    gate, started = held.gate, held.started  # rows of each call, as it starts

    async def body(b: Batcher) -> None:
        gone = b.submit(*numbered(100), timeout_s=30)
        while len(started) < 2:
            await asyncio.sleep(0.01)
        gone.cancel()  # its client went away while its parts ran
        gate.set()
        while b.batches < 1:  # both parts end (their scores go nowhere)
            await asyncio.sleep(0.01)
        assert (await b.submit(*numbered(64), timeout_s=30)).tolist() == list(range(64))

    run(body, held)
    assert started == [50, 50, 32, 32]


def test_split_scores_match_the_model_whole(small_run: Path) -> None:
    model = load_model("robe", str(small_run), "auto", "cpu", 1)
    idx = np.arange(100) % len(model.catalog)
    dense, keys = model.catalog.dense[idx], model.catalog.keys[idx]

    async def body(b: Batcher) -> None:
        scores = await b.submit(dense, keys, timeout_s=30)
        np.testing.assert_allclose(scores, model.runtime.predict(dense, keys), rtol=1e-5, atol=1e-6)

    assert run(body, model.runtime.scorer()).parts == 2


def grew(before: str, after: str, name: str, **labels: str) -> float:
    """How much the /metrics samples of `name` with `labels` grew from `before` to `after`."""
    total = [
        sum(s.value for s in samples(text, name) if labels.items() <= s.labels.items())
        for text in (before, after)
    ]
    return total[1] - total[0]


def test_the_server_splits_a_lone_request(small_run: Path) -> None:
    """Through the app: `split_rows` reaches the batcher; a lone /recommend of 100
    candidates is one batch of two model calls, with the scores an unsplit server gives."""
    cands = [f"item-{i:04d}" for i in range(100)]  # conftest's item ids
    body = {"user": {"I1": 3, "C1": "68fd1e64"}, "candidates": cands, "k": 100}
    answers = []
    for split_rows in (32, 0):
        settings = Settings(
            models=[f"robe={small_run}"], workers=2, threads=1, split_rows=split_rows
        )
        with TestClient(build_app(settings)) as client:
            before = client.get("/metrics").text
            answers.append(client.post("/recommend", json=body).json()["items"])
            after = client.get("/metrics").text
        assert grew(before, after, "robe_batch_rows_count", model="robe") == 1
        assert grew(before, after, "robe_batch_rows_sum", model="robe") == 100
        calls = grew(
            before, after, "robe_stage_duration_seconds_count", model="robe", stage="inference"
        )
        assert calls == (2 if split_rows else 1)
    split, whole = answers
    assert [i["item_id"] for i in split] == [i["item_id"] for i in whole]
    np.testing.assert_allclose(
        [i["score"] for i in split], [i["score"] for i in whole], rtol=1e-5, atol=1e-6
    )

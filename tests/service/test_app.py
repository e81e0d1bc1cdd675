"""The app through TestClient with its lifespan: every endpoint and every error body."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from loadtest.scrape import samples
from service.app import build_app
from service.settings import Settings
from tests.service.conftest import NUM_ITEMS, item_id

USER = {"I1": 3, "C1": "68fd1e64", "C3": "0000000a", "I3": 1.5}


def client_for(settings: Settings) -> Iterator[TestClient]:
    with TestClient(build_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def client(onnx_artifact: Path, full_run: Path) -> Iterator[TestClient]:
    """The ROBE model from an ONNX artifact, the plain-table one from a training run."""
    yield from client_for(
        Settings(
            models=[f"robe={onnx_artifact}", f"full={full_run}"],
            max_batch_rows=256,
            max_wait_ms=5,
            max_request_rows=500,
        )
    )


@pytest.fixture(scope="module")
def tight(small_run: Path) -> Iterator[TestClient]:
    """Small limits: 413, 503 and 504 on demand."""
    yield from client_for(
        Settings(
            models=[f"robe={small_run}"],
            max_request_rows=50,
            max_body_bytes=4096,
            max_queue_rows=100,
            request_timeout_s=0.05,
            max_wait_ms=1000,
            max_batch_rows=64,
        )
    )


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` that carry `labels` (loadtest's /metrics parser)."""
    return sum(s.value for s in samples(text, name) if labels.items() <= s.labels.items())


def error(code: int, type_: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "type": type_, "message": message}}


# -- endpoints -------------------------------------------------------------------------
def test_health_ready_models(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "alive"}
    assert client.get("/readyz").json() == {"status": "ready", "models": ["full", "robe"]}
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert models["robe"]["default"]
    assert not models["full"]["default"]
    assert models["robe"]["embedding"] == "robe"
    assert models["full"]["embedding"] == "full"
    assert models["robe"]["compression"] == pytest.approx(8.0)
    assert models["robe"]["catalog_items"] == NUM_ITEMS
    assert models["robe"]["features"]["item"] == ["I2", "C2", "C4"]


def test_recommend_all_items_best_first(client: TestClient) -> None:
    body = client.post("/recommend", json={"user": USER, "k": 5}).json()
    assert body["model"] == "robe"
    assert body["scored"] == NUM_ITEMS
    scores = [i["score"] for i in body["items"]]
    assert len(scores) == 5
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= s <= 1 for s in scores)


def test_recommend_candidates_and_model_choice(client: TestClient) -> None:
    cands = [item_id(i) for i in (5, 17, 3, 250)]
    robe = client.post("/recommend", json={"user": USER, "candidates": cands, "k": 10}).json()
    assert robe["scored"] == 4
    assert sorted(i["item_id"] for i in robe["items"]) == sorted(cands)
    full = client.post(
        "/recommend", json={"user": USER, "candidates": cands, "model": "full"}
    ).json()
    assert full["model"] == "full"
    assert [i["score"] for i in full["items"]] != [i["score"] for i in robe["items"]]
    # every feature may be absent
    assert client.post("/recommend", json={"candidates": cands}).status_code == 200


def test_recommend_matches_score(client: TestClient) -> None:
    """A /recommend row is the user's features plus the item's catalog features."""
    ranked = client.post("/recommend", json={"user": USER, "candidates": [item_id(7)]}).json()
    i = 7
    row = {**USER, "C2": f"{(i * 7919) % 2**32:08x}", "C4": f"{i % 50:08x}", "I2": float(i % 13)}
    scored = client.post("/score", json={"rows": [row, {}]}).json()
    assert scored["model"] == "robe"
    assert len(scored["scores"]) == 2
    assert scored["scores"][0] == pytest.approx(ranked["items"][0]["score"], rel=1e-5)


def test_docs_and_openapi(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/recommend", "/score", "/healthz", "/readyz", "/v1/models"} <= set(spec["paths"])
    assert "user" in json.dumps(spec["paths"]["/recommend"]["post"]["requestBody"])


# -- errors ----------------------------------------------------------------------------
BAD_422 = [
    ("nope", "body: malformed JSON (Invalid JSON: expected ident at line 1 column 2)"),
    ('{"user": []}', "user: Input should be an object"),
    ('{"k": "3"}', "k: Input should be a valid integer"),
    (
        '{"user": {"I9": 1}}',
        "user.I9: unknown feature 'I9' (schema 'tiny' has dense I1, I2, I3 and sparse "
        "C1, C2, C3, C4)",
    ),
    (
        '{"user": {"C2": "x"}}',
        "user.C2: 'C2' is an item-side feature and cannot be given in "
        "'user' (allowed sides: user, context)",
    ),
    ('{"user": {"I1": NaN}}', "user.I1: dense value must be finite, got nan"),
    ('{"user": {"I1": Infinity}}', "user.I1: dense value must be finite, got inf"),
    ('{"user": {"I1": 1e999}}', "user.I1: dense value must be finite, got inf"),
    (
        '{"user": {"I1": 1' + "0" * 400 + "}}",  # a JSON integer past float64's range
        "user.I1: dense value must be finite, got an integer past float64's range",
    ),
    ('{"user": {"I1": "x"}}', "user.I1: a dense feature must be a number or null, got 'x'"),
    ('{"user": {"C1": 1.5}}', "user.C1: a sparse feature must be a string or an integer, got 1.5"),
    (
        '{"user": {"C1": true}}',
        "user.C1: categorical value must be an integer or a string, got True",
    ),
    ('{"k": 0}', "k: must be between 1 and 1000, got 0"),
    ('{"k": 1001}', "k: must be between 1 and 1000, got 1001"),
    ('{"candidates": ["nope", "item-0001"]}', "candidates: unknown item id 'nope'"),
    (
        '{"candidates": ["item-0001", "item-0001"]}',
        "candidates: item id 'item-0001' is given twice",
    ),
    ('{"candidates": []}', "candidates: List should have at least 1 item after validation, not 0"),
    ('{"usr": {}}', "usr: Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("body", "message"), BAD_422)
def test_recommend_422(client: TestClient, body: str, message: str) -> None:
    r = client.post("/recommend", content=body)
    assert r.status_code == 422
    assert r.json() == error(422, "invalid_input", message)


def test_score_422_names_the_row(client: TestClient) -> None:
    r = client.post("/score", json={"rows": [{}, {"C9": "a"}]})
    assert r.status_code == 422
    assert r.json()["error"]["message"].startswith("rows[1].C9: unknown feature 'C9'")


def test_unknown_model_404(client: TestClient) -> None:
    r = client.post("/recommend", json={"model": "nope"})
    assert r.status_code == 404
    assert r.json() == error(
        404, "model_not_found", "model 'nope' is not loaded (loaded: full, robe)"
    )
    r = client.post("/score", json={"rows": [{}], "model": "nope"})
    assert r.status_code == 404


def test_unknown_path_same_shape(client: TestClient) -> None:
    r = client.get("/nope")
    assert r.status_code == 404
    assert r.json() == error(404, "not_found", "Not Found")
    r = client.get("/recommend")
    assert r.status_code == 405
    assert r.json()["error"]["type"] == "method_not_allowed"


def test_413_body_and_rows(tight: TestClient) -> None:
    r = tight.post("/recommend", content=b'{"user": {}, "pad": "' + b"x" * 5000 + b'"}')
    assert r.status_code == 413
    assert r.json() == error(
        413, "payload_too_large", "body of 5023 bytes is over the limit of 4096 bytes"
    )
    cands = [item_id(i) for i in range(51)]
    r = tight.post("/recommend", json={"candidates": cands})
    assert r.status_code == 413
    assert r.json() == error(
        413, "payload_too_large", "candidates: 51 items is over the limit of 50 rows per request"
    )
    r = tight.post("/score", json={"rows": [{}] * 51})
    assert r.json() == error(
        413, "payload_too_large", "rows: 51 rows is over the limit of 50 rows per request"
    )


def test_503_queue_full_with_retry_after(tight: TestClient) -> None:
    r = tight.post("/recommend", json={"user": USER})  # the whole catalog: 300 rows > 100
    assert r.status_code == 503
    assert r.headers["retry-after"] == "1"
    assert r.json() == error(
        503, "queue_full", "model 'robe': queue full (0 rows waiting, limit 100); retry later"
    )


def test_504_deadline(tight: TestClient) -> None:
    def rejected(reason: str) -> float:
        text = tight.get("/metrics").text
        return metric(text, "robe_rejected_requests_total", model="robe", reason=reason)

    before = {reason: rejected(reason) for reason in ("deadline", "queue_full")}
    r = tight.post("/recommend", json={"candidates": [item_id(1)]})  # waits 1 s for a batch
    assert r.status_code == 504
    assert r.json() == error(
        504, "deadline_exceeded", "model 'robe': request outwaited its deadline"
    )
    # counted once, under its own reason only
    assert rejected("deadline") == before["deadline"] + 1
    assert rejected("queue_full") == before["queue_full"]


def test_timeout_ms_sets_the_deadline(client: TestClient) -> None:
    body: dict[str, Any] = {"user": USER, "candidates": [item_id(1), item_id(2)]}
    assert client.post("/recommend", json={**body, "timeout_ms": 1e9}).status_code == 200  # capped
    assert client.post("/recommend", json={**body, "timeout_ms": 0}).status_code == 422
    count = "robe_predicted_wait_seconds_count"
    before = metric(client.get("/metrics").text, count, model="robe")
    # an idle worker takes the request (admission never starves the rate estimate), and
    # its own deadline of a microsecond passes before the scores come back
    r = client.post("/score", json={"rows": [{"I1": 1}], "timeout_ms": 0.001})
    assert r.status_code == 504 and r.json()["error"]["type"] == "deadline_exceeded"
    assert metric(client.get("/metrics").text, count, model="robe") == before + 1


def test_malformed_input_never_gives_500(client: TestClient) -> None:
    bodies: list[Any] = [
        None,
        1,
        "x",
        [],
        {"user": None},
        {"user": {"C1": None, "I1": None}},
        {"user": {"C1": 2**70}},
        {"user": {"C1": -(2**63)}},
        {"user": {"": 1}},
        {"candidates": [1, 2]},
        {"candidates": "item-0001"},
        {"k": 1.5},
        {"k": None},
        {"model": 3},
        {"user": {"I1": -1e308}},
        {"user": {"C1": "\u0000\ud7ff"}},
        {"candidates": [item_id(1)], "k": 2**80},
        {"rows": []},
    ]
    for body in bodies:
        for path in ("/recommend", "/score"):
            r = client.post(path, json=body)
            assert r.status_code in (200, 404, 413, 422), (path, body, r.text)
            assert r.status_code == 200 or "error" in r.json()
    assert client.post("/recommend", content=b"\xff\xfe").status_code == 422
    assert client.post("/recommend", json={"user": USER, "k": 1}).status_code == 200


# -- batching and metrics ----------------------------------------------------------------
def test_concurrent_requests_share_batches(client: TestClient) -> None:
    before = client.get("/metrics").text
    batches0 = metric(before, "robe_batch_rows_count", model="robe")
    cands = [item_id(i) for i in range(100)]

    def call(i: int) -> int:
        r = client.post("/recommend", json={"user": {**USER, "I1": i}, "candidates": cands})
        return int(r.status_code)

    with ThreadPoolExecutor(64) as pool:
        codes = list(pool.map(call, range(64)))
    assert codes == [200] * 64
    after = client.get("/metrics").text
    batches = metric(after, "robe_batch_rows_count", model="robe") - batches0
    assert 1 <= batches < 64, f"{batches} batches for 64 requests"


METRICS = [
    "robe_requests_total",
    "robe_request_duration_seconds",
    "robe_stage_duration_seconds",
    "robe_batch_rows",
    "robe_batch_requests",
    "robe_queue_rows",
    "robe_rejected_requests_total",
    "robe_rows_scored_total",
    "robe_model_info",
    "robe_model_embedding_bytes",
    "robe_model_full_equivalent_bytes",
    "robe_predicted_wait_seconds",
    "robe_model_loads_total",
]


def test_metrics_named_and_moving(client: TestClient) -> None:
    before = client.get("/metrics").text
    for name in METRICS:
        assert re.search(rf"^# TYPE {name} ", before, re.M), name
    client.post("/recommend", json={"user": USER, "candidates": [item_id(1), item_id(2)]})
    client.post("/recommend", json={"model": "nope"})
    after = client.get("/metrics").text
    rows = "robe_rows_scored_total"
    assert metric(after, rows, model="robe") - metric(before, rows, model="robe") == 2
    for name, labels in [
        ("robe_requests_total", {"endpoint": "/recommend", "code": "200"}),
        ("robe_requests_total", {"endpoint": "/recommend", "code": "404"}),
        ("robe_request_duration_seconds_count", {"endpoint": "/recommend", "model": "robe"}),
        ("robe_batch_rows_count", {"model": "robe"}),
        ("robe_batch_requests_sum", {"model": "robe"}),
    ]:
        assert metric(after, name, **labels) > metric(before, name, **labels), name
    for stage in ("parse", "queue", "inference", "postprocess"):
        name = "robe_stage_duration_seconds_count"
        assert metric(after, name, stage=stage, model="robe") > metric(
            before, name, stage=stage, model="robe"
        ), stage
    assert 'robe_model_info{backend="onnx",device="cpu",embedding="robe",model="robe"' in after
    assert 'robe_model_info{backend="eager",device="cpu",embedding="full",model="full"' in after
    assert 'embedding="robe",model="robe",precision="fp32"' in after
    assert metric(after, "robe_model_embedding_bytes", model="robe") == 5040
    assert metric(after, "robe_model_full_equivalent_bytes", model="robe") == 40320
    assert 'le="0.0001"' in after
    assert 'le="5.0"' in after

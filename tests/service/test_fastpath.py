"""service.fastpath: the scoring endpoints' direct route keeps FastAPI's behaviour."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import Request
from fastapi.responses import Response
from fastapi.testclient import TestClient

from service.app import build_app
from service.fastpath import ServiceApp
from service.settings import Settings
from tests.service.conftest import item_id
from tests.service.test_app import metric

BODY = {"user": {"I1": 3, "C1": "68fd1e64"}, "candidates": [item_id(0), item_id(1)], "k": 1}


@pytest.fixture
def app(onnx_artifact: Path) -> ServiceApp:
    built = build_app(Settings(models=[f"robe={onnx_artifact}"]))
    assert isinstance(built, ServiceApp)
    return built


@pytest.fixture
def client(app: ServiceApp) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_the_scoring_posts_are_direct_and_still_documented(
    app: ServiceApp, client: TestClient
) -> None:
    assert set(app.direct) == {"/recommend", "/score"}
    paths = client.get("/openapi.json").json()["paths"]
    assert "post" in paths["/recommend"] and "post" in paths["/score"]
    # other methods on the same path still go through FastAPI's router
    r = client.get("/recommend")
    assert r.status_code == 405
    assert r.json()["error"]["code"] == 405


def test_direct_route_answers_and_counts(client: TestClient) -> None:
    ok = client.post("/recommend", json=BODY)
    assert ok.status_code == 200, ok.text
    assert ok.json()["items"][0]["item_id"] in (item_id(0), item_id(1))
    bad = client.post("/recommend", content=b"{not json")
    assert bad.status_code == 422
    assert bad.json()["error"]["type"] == "invalid_input"
    assert bad.json()["error"]["message"].startswith("body: malformed JSON")
    missing = client.post("/recommend", json={**BODY, "model": "nope"})
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "model_not_found"
    text = client.get("/metrics").text
    labels = {"model": "robe", "endpoint": "/recommend"}
    assert metric(text, "robe_requests_total", code="200", **labels) == 1
    assert metric(text, "robe_request_duration_seconds_count", **labels) == 1
    assert metric(text, "robe_requests_total", endpoint="/recommend", code="422") == 1


def test_direct_route_answers_a_bug_with_the_error_body(
    app: ServiceApp, client: TestClient
) -> None:
    async def broken(request: Request) -> Response:
        raise RuntimeError("boom")

    app.add_direct_post("/score", broken)
    r = client.post("/score", json={"rows": [{}]})
    assert r.status_code == 500
    assert r.json() == {
        "error": {"code": 500, "type": "internal", "message": "internal error: RuntimeError"}
    }


def test_direct_route_closes_connections_while_draining(
    app: ServiceApp, client: TestClient
) -> None:
    assert client.post("/recommend", json=BODY).headers.get("connection") != "close"
    app.state.service.draining = True
    r = client.post("/recommend", json=BODY)
    assert r.status_code == 200
    assert r.headers["connection"] == "close"

"""/recommend `exclude`: item ids never returned, validated like `candidates`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import build_app
from service.settings import Settings
from tests.service.conftest import NUM_ITEMS, item_id

USER = {"I1": 3, "C1": "68fd1e64"}


@pytest.fixture(scope="module")
def client(small_run: Path) -> Iterator[TestClient]:
    with TestClient(build_app(Settings(models=[f"robe={small_run}"], max_request_rows=500))) as c:
        yield c


def ranked(client: TestClient, **body: object) -> list[str]:
    r = client.post("/recommend", json={"user": USER, **body})
    assert r.status_code == 200, r.text
    return [i["item_id"] for i in r.json()["items"]]


def test_excluded_items_are_never_returned(client: TestClient) -> None:
    top = ranked(client, k=5)
    rest = ranked(client, k=5, exclude=top[:2])
    assert rest[:3] == top[2:]
    assert not set(rest) & set(top[:2])
    r = client.post("/recommend", json={"user": USER, "k": 1, "exclude": top[:2]})
    assert r.json()["scored"] == NUM_ITEMS - 2


def test_exclude_with_candidates(client: TestClient) -> None:
    candidates = [item_id(i) for i in range(4)]
    got = ranked(client, k=10, candidates=candidates, exclude=[item_id(1)])
    assert sorted(got) == [item_id(0), item_id(2), item_id(3)]


@pytest.mark.parametrize(
    ("exclude", "message"),
    [
        (["nope"], "exclude: unknown item id 'nope'"),
        ([item_id(1), item_id(1)], f"exclude: item id '{item_id(1)}' is given twice"),
        ([True], "exclude"),
    ],
)
def test_exclude_is_validated_like_candidates(
    client: TestClient, exclude: list[object], message: str
) -> None:
    r = client.post("/recommend", json={"user": USER, "exclude": exclude})
    assert r.status_code == 422
    assert message in r.json()["error"]["message"]


def test_everything_excluded(client: TestClient) -> None:
    candidates = [item_id(0), item_id(1)]
    r = client.post(
        "/recommend", json={"user": USER, "candidates": candidates, "exclude": candidates}
    )
    # schema-valid (the OpenAPI contract cannot rule it out), so an answer: no items
    assert r.status_code == 200
    assert r.json()["items"] == [] and r.json()["scored"] == 0

"""The OpenAPI document of the v2 routes (service.openapi_v2) says what the server does:
bodies it calls valid are scored, bodies it calls invalid are refused, both ways, on
the loaded model; and the repository API declares its Bearer token."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from pydantic import SecretStr

from service.app import build_app
from service.settings import Settings
from tests.service.test_v2 import ROWS, json_body

INFER = "/v2/models/{name}/infer"
Edit = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def client(onnx_artifact: Path) -> Iterator[TestClient]:
    settings = Settings(
        models=[f"robe={onnx_artifact}"],
        max_request_rows=2,
        admin_token=SecretStr("t0ken"),
        warmup=False,
    )
    with TestClient(build_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def doc(client: TestClient) -> dict[str, Any]:
    document: dict[str, Any] = client.get("/openapi.json").json()
    return document


def infer_validator(doc: dict[str, Any], path: str = INFER) -> Draft202012Validator:
    schema = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def nested(body: dict[str, Any]) -> None:
    for t in body["inputs"]:
        width = t["shape"][1]
        t["data"] = [t["data"][i : i + width] for i in range(0, len(t["data"]), width)]


def reverse_inputs(body: dict[str, Any]) -> None:
    body["inputs"].reverse()


def binary_output(body: dict[str, Any]) -> None:
    body["outputs"] = [{"name": "score", "parameters": {"binary_data": True}}]
    body["parameters"] = {"timeout": 2e6, "custom": "ignored"}


def long_timeout(body: dict[str, Any]) -> None:
    body["parameters"] = {"timeout": 10**400}  # past float64's range: the server's cap


def huge_dense(body: dict[str, Any]) -> None:
    body["inputs"][0]["data"][0] = 10**400


VALID: dict[str, Edit] = {
    "flat": lambda b: None,
    "nested": nested,
    "sparse first": reverse_inputs,
    "binary output": binary_output,
    "one row": lambda b: b.update(json_body(ROWS[:1])),
    "long timeout": long_timeout,
}

INVALID: dict[str, Edit] = {
    "no data": lambda b: b["inputs"][0].pop("data"),
    "datatype": lambda b: b["inputs"][0].update(datatype="BF16"),
    "name": lambda b: b["inputs"][0].update(name=""),
    "width": lambda b: b["inputs"][1].update(shape=[2, 3]),
    "rows differ": lambda b: b["inputs"][1].update(shape=[1, 4], data=b["inputs"][1]["data"][:4]),
    "short data": lambda b: b["inputs"][0].update(data=b["inputs"][0]["data"][:-1]),
    "text in FP32": lambda b: b["inputs"][0]["data"].__setitem__(0, "3"),
    "number in BYTES": lambda b: b["inputs"][1]["data"].__setitem__(0, 7),
    "null in BYTES": lambda b: b["inputs"][1]["data"].__setitem__(0, None),
    "twice": lambda b: b["inputs"].append(copy.deepcopy(b["inputs"][0])),
    "missing input": lambda b: b["inputs"].pop(),
    "nested wrong": lambda b: b["inputs"][0].update(data=[[1, 2], [3, 4], [5, 6]]),
    "binary_data_size": lambda b: b["inputs"][0].update(parameters={"binary_data_size": 24}),
    "two outputs": lambda b: b.update(outputs=[{"name": "score"}, {"name": "score"}]),
    "unknown output": lambda b: b.update(outputs=[{"name": "logits"}]),
    "binary flag": lambda b: b.update(
        outputs=[{"name": "score", "parameters": {"binary_data": 1}}]
    ),
    "timeout": lambda b: b.update(parameters={"timeout": 0}),
    "extra": lambda b: b.update(extra=1),
    "past float64": huge_dense,
}


def body_with(edit: Edit) -> dict[str, Any]:
    body = json_body(ROWS[:2])
    edit(body)
    return body


@pytest.mark.parametrize("case", list(VALID))
def test_valid_bodies_are_scored(client: TestClient, doc: dict[str, Any], case: str) -> None:
    body = body_with(VALID[case])
    infer_validator(doc).validate(body)
    r = client.post("/v2/models/robe/infer", content=json.dumps(body))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_bodies_are_refused(client: TestClient, doc: dict[str, Any], case: str) -> None:
    body = body_with(INVALID[case])
    assert not infer_validator(doc).is_valid(body)
    r = client.post("/v2/models/robe/infer", content=json.dumps(body))
    assert r.status_code == 422, r.text


def test_rows_over_the_limit(client: TestClient, doc: dict[str, Any]) -> None:
    body = json_body(ROWS)  # 3 rows, the limit is 2
    assert not infer_validator(doc).is_valid(body)
    assert client.post("/v2/models/robe/infer", json=body).status_code == 413


def test_path_parameters_name_the_loaded_model(client: TestClient, doc: dict[str, Any]) -> None:
    version = client.get("/v2/models/robe").json()["versions"][0]
    for path, ops in doc["paths"].items():
        if not path.startswith("/v2/models/"):
            continue
        params = {p["name"]: p["schema"] for op in ops.values() for p in op["parameters"]}
        assert params["name"] == {"type": "string", "enum": ["robe"]}, path
        if "{version}" in path:
            assert params["version"] == {"type": "string", "enum": [version]}, path
    versioned = "/v2/models/{name}/versions/{version}/infer"
    infer_validator(doc, versioned).validate(json_body(ROWS[:2]))


def test_large_row_limits_state_bounds(onnx_artifact: Path) -> None:
    """Over ROWS_ENUM_LIMIT rows the document keeps one branch per input order."""
    settings = Settings(models=[f"robe={onnx_artifact}"], max_request_rows=4096, warmup=False)
    with TestClient(build_app(settings)) as c:
        doc = c.get("/openapi.json").json()
    inputs = infer_validator(doc).schema["properties"]["inputs"]
    assert len(inputs["anyOf"]) == 2
    shape = inputs["anyOf"][0]["prefixItems"][0]["properties"]["shape"]
    assert shape["prefixItems"][0] == {"type": "integer", "minimum": 1, "maximum": 4096}
    infer_validator(doc).validate(json_body(ROWS))


def test_repository_declares_its_bearer_token(client: TestClient, doc: dict[str, Any]) -> None:
    scheme = doc["components"]["securitySchemes"]["adminToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    repository = {p: ops for p, ops in doc["paths"].items() if p.startswith("/v2/repository/")}
    assert len(repository) == 3
    for ops in repository.values():
        assert ops["post"]["security"] == [{"adminToken": []}]
        assert {"401", "403"} <= set(ops["post"]["responses"])
    # the token is checked before the body is read: a malformed body without it is a 401
    r = client.post("/v2/repository/models/robe/load", content=b"{", headers={})
    assert r.status_code == 401, r.text
    r = client.post(
        "/v2/repository/models/robe/load",
        content=b"{",
        headers={"Authorization": "Bearer t0ken"},
    )
    assert r.status_code == 422 and r.json()["error"]["type"] == "invalid_input", r.text

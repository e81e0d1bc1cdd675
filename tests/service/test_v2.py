"""The Open Inference Protocol v2 routes through TestClient: shapes, binary data, errors,
limits and metrics, and scores equal to /score's for the same rows."""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.app import build_app
from service.settings import Settings
from service.v2_tensors import HEADER_LENGTH

# Rows as /score takes them; the same rows as v2 tensors below. Sparse values are text
# (BYTES), so /score gets them as strings too; "" and null are both missing.
ROWS: list[dict[str, Any]] = [
    {"I1": 3, "I2": 7, "I3": 1.5, "C1": "68fd1e64", "C2": "item-x", "C3": "7", "C4": ""},
    {"I1": 0, "I2": None, "I3": 12, "C1": "", "C2": "0000000a", "C3": "", "C4": "05db9164"},
    {"I1": 250, "I2": 1, "I3": None, "C1": "a", "C2": "b", "C3": "c", "C4": "d"},
]
DENSE = ["I1", "I2", "I3"]
SPARSE = ["C1", "C2", "C3", "C4"]


def dense_of(rows: list[dict[str, Any]]) -> np.ndarray:
    return np.array(
        [[np.nan if r.get(f) is None else r[f] for f in DENSE] for r in rows], dtype=np.float32
    )


def sparse_of(rows: list[dict[str, Any]]) -> list[str]:
    return [r.get(f) or "" for r in rows for f in SPARSE]


def json_body(rows: list[dict[str, Any]]) -> dict[str, Any]:
    dense = dense_of(rows)
    return {
        "inputs": [
            # JSON has no NaN: a missing dense value is null, as in a /score row
            {"name": "dense", "datatype": "FP32", "shape": list(dense.shape),
             "data": [None if np.isnan(v) else v for v in dense.ravel().tolist()]},
            {"name": "sparse", "datatype": "BYTES", "shape": [len(rows), len(SPARSE)],
             "data": sparse_of(rows)},
        ]
    }  # fmt: skip


def binary_body(rows: list[dict[str, Any]], binary_output: bool) -> tuple[bytes, dict[str, str]]:
    dense = dense_of(rows).astype("<f4").tobytes()
    sparse = b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in sparse_of(rows))
    head = {
        "inputs": [
            {"name": "dense", "datatype": "FP32", "shape": [len(rows), 3],
             "parameters": {"binary_data_size": len(dense)}},
            {"name": "sparse", "datatype": "BYTES", "shape": [len(rows), 4],
             "parameters": {"binary_data_size": len(sparse)}},
        ],
        "outputs": [{"name": "score", "parameters": {"binary_data": binary_output}}],
    }  # fmt: skip
    header = json.dumps(head).encode()
    return header + dense + sparse, {HEADER_LENGTH: str(len(header))}


@pytest.fixture(scope="module")
def client(onnx_artifact: Path) -> Iterator[TestClient]:
    settings = Settings(models=[f"robe={onnx_artifact}"], max_request_rows=50, max_wait_ms=1)
    with TestClient(build_app(settings)) as c:
        yield c


def score(client: TestClient, rows: list[dict[str, Any]]) -> list[float]:
    r = client.post("/score", json={"rows": rows})
    assert r.status_code == 200, r.text
    scores: list[float] = r.json()["scores"]
    return scores


def test_health_server_and_model_metadata(client: TestClient) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    server = client.get("/v2").json()
    assert server["name"] == "robe-serve"
    assert "binary_tensor_data" in server["extensions"]
    meta = client.get("/v2/models/robe").json()
    assert meta["name"] == "robe"
    assert meta["inputs"] == [
        {"name": "dense", "datatype": "FP32", "shape": [-1, 3]},
        {"name": "sparse", "datatype": "BYTES", "shape": [-1, 4]},
    ]
    assert meta["outputs"] == [{"name": "score", "datatype": "FP32", "shape": [-1]}]
    assert meta["parameters"] == {"dense_features": "I1,I2,I3", "sparse_features": "C1,C2,C3,C4"}
    version = meta["versions"][0]
    assert client.get(f"/v2/models/robe/versions/{version}").json() == meta
    assert client.get("/v2/models/robe/ready").json() == {"name": "robe", "ready": True}


def test_json_infer_equals_score(client: TestClient) -> None:
    r = client.post("/v2/models/robe/infer", json={"id": "req-1", **json_body(ROWS)})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model_name"] == "robe"
    assert out["id"] == "req-1"
    (output,) = out["outputs"]
    assert output["name"] == "score"
    assert output["datatype"] == "FP32"
    assert output["shape"] == [3]
    np.testing.assert_allclose(output["data"], score(client, ROWS), rtol=0, atol=1e-6)


def test_nested_json_data_is_row_major(client: TestClient) -> None:
    body = json_body(ROWS)
    for tensor in body["inputs"]:
        width = tensor["shape"][1]
        flat = tensor["data"]
        tensor["data"] = [flat[i : i + width] for i in range(0, len(flat), width)]
    r = client.post("/v2/models/robe/infer", json=body)
    np.testing.assert_allclose(r.json()["outputs"][0]["data"], score(client, ROWS), atol=1e-6)


@pytest.mark.parametrize("binary_output", [True, False])
def test_binary_tensors_equal_score(client: TestClient, binary_output: bool) -> None:
    """NaN in a binary FP32 tensor is missing, as null is in a /score row."""
    content, headers = binary_body(ROWS, binary_output)
    r = client.post("/v2/models/robe/infer", content=content, headers=headers)
    assert r.status_code == 200, r.text
    if binary_output:
        n = int(r.headers[HEADER_LENGTH])
        head = json.loads(r.content[:n])
        (output,) = head["outputs"]
        assert output["parameters"] == {"binary_data_size": 12}
        got = np.frombuffer(r.content[n:], dtype="<f4")
    else:
        assert HEADER_LENGTH not in r.headers
        got = np.array(r.json()["outputs"][0]["data"])
    np.testing.assert_allclose(got, score(client, ROWS), rtol=0, atol=1e-6)


def v2_error(r: Any, code: int, fragment: str) -> None:
    assert r.status_code == code, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"], str)
    assert fragment in body["error"], body["error"]


def test_errors_take_v2_body(client: TestClient) -> None:
    v2_error(client.get("/v2/models/nope"), 404, "'nope' is not loaded")
    v2_error(client.post("/v2/models/nope/infer", json=json_body(ROWS)), 404, "not loaded")
    v2_error(client.get("/v2/models/robe/versions/9999"), 404, "not '9999'")
    v2_error(client.post("/v2/models/robe/infer", content=b"{"), 422, "malformed JSON")
    body = json_body(ROWS)
    body["inputs"][0]["datatype"] = "FP64"
    v2_error(client.post("/v2/models/robe/infer", json=body), 422, "must be FP32")
    body = json_body(ROWS)
    body["inputs"][1]["shape"] = [4, 3]
    v2_error(client.post("/v2/models/robe/infer", json=body), 422, "shape must be [rows, 4]")
    body = json_body(ROWS)
    body["inputs"][1]["shape"] = [2, 4]
    body["inputs"][1]["data"] = body["inputs"][1]["data"][:8]
    v2_error(client.post("/v2/models/robe/infer", json=body), 422, "different row counts")
    body = json_body(ROWS)
    del body["inputs"][1]
    v2_error(client.post("/v2/models/robe/infer", json=body), 422, "'sparse' is missing")
    body = json_body(ROWS)
    body["inputs"][0]["data"][0] = "three"
    v2_error(client.post("/v2/models/robe/infer", json=body), 422, "element 0 is 'three'")
    body = json_body(ROWS)
    body["outputs"] = [{"name": "logits"}]
    v2_error(client.post("/v2/models/robe/infer", json=body), 422, "unknown output 'logits'")
    content, headers = binary_body(ROWS, True)
    v2_error(
        client.post("/v2/models/robe/infer", content=content[:-3], headers=headers),
        422,
        "runs past",
    )
    # the service's own API keeps its body shape
    assert client.post("/score", content=b"{").json()["error"]["type"] == "invalid_input"


def test_row_limit_and_metrics(client: TestClient) -> None:
    rows = ROWS * 17  # 51 rows, over max_request_rows=50
    v2_error(client.post("/v2/models/robe/infer", json=json_body(rows)), 413, "over the limit")
    client.post("/v2/models/robe/infer", json=json_body(ROWS))
    text = client.get("/metrics").text
    line = 'robe_requests_total{code="413",endpoint="/v2/models/{name}/infer",model="robe"}'
    assert line in text
    assert 'robe_request_duration_seconds_count{endpoint="/v2/models/{name}/infer"' in text


def test_not_ready_before_start(onnx_artifact: Path) -> None:
    app = build_app(Settings(models=[f"robe={onnx_artifact}"]))
    with TestClient(app) as c:
        app.state.service.ready = False
        v2_error(c.get("/v2/health/ready"), 503, "starting")
        v2_error(c.post("/v2/models/robe/infer", json=json_body(ROWS)), 503, "loading")
        app.state.service.ready = True


def test_versioned_infer_and_openapi(client: TestClient) -> None:
    version = client.get("/v2/models/robe").json()["versions"][0]
    r = client.post(f"/v2/models/robe/versions/{version}/infer", json=json_body(ROWS))
    np.testing.assert_allclose(r.json()["outputs"][0]["data"], score(client, ROWS), atol=1e-6)
    v2_error(client.post("/v2/models/robe/versions/0/infer", json=json_body(ROWS)), 404, "not '0'")
    doc = client.get("/openapi.json").json()
    paths = {p: ops for p, ops in doc["paths"].items() if p.startswith("/v2")}
    assert len(paths) == 9
    for path, ops in paths.items():
        for op in ops.values():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), path
    body = paths["/v2/models/{name}/infer"]["post"]["requestBody"]["content"]
    assert "$ref" not in json.dumps(body)  # written in place: resolvable in the document
    assert set(body["application/json"]["schema"]["properties"]) >= {"inputs", "outputs"}

"""The Open Inference Protocol v2 (KServe / Triton REST) beside the service's own API.

    GET  /v2/health/live, /v2/health/ready, /v2
    GET  /v2/models/{name}[/versions/{version}][/ready]
    POST /v2/models/{name}[/versions/{version}]/infer

A model takes two inputs, `dense` FP32 [-1, num_dense] and `sparse` BYTES [-1, num_sparse]
(raw values, columns in schema order; NaN and "" are missing), and gives `score` FP32
[-1]. Each row becomes the feature mapping a /score row would be and goes through the
same encoding (`FeatureLayout.rows`), batcher, limits and metrics. Errors keep the
service's codes; under these paths their body is v2's `{"error": "..."}`
(`service.errors.error_body`). The binary tensor data extension is
supported both ways.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel

from service.batcher import Batcher
from service.bodies import await_scores, read_body
from service.errors import InvalidInput, ModelNotFound, NotReady, PayloadTooLarge, is_v2_path
from service.models import ServedModel
from service.schemas import inline_schema
from service.settings import Settings
from service.state import ServiceState
from service.v2_tensors import (
    HEADER_LENGTH,
    InferRequest,
    InferResponse,
    Tensor,
    decode_request,
    encode_response,
)

DENSE, SPARSE, SCORE = "dense", "sparse", "score"
DATATYPES = {DENSE: "FP32", SPARSE: "BYTES"}  # each input's one datatype
EXTENSIONS = ("binary_tensor_data",)
INFER_ENDPOINT = "/v2/models/{name}/infer"  # the metrics' endpoint label, versions included


class V2Error(BaseModel):
    """v2's error body: the message alone (the status code says the kind)."""

    error: str


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": V2Error} for code in codes}


def _infer_doc() -> dict[str, Any]:
    """The request body and the 200 response of /infer. The binary tensor data extension
    is described, not given a schema: its body is JSON followed by bytes that only the
    `Inference-Header-Content-Length` header delimits, which no OpenAPI media type can say
    (an `application/octet-stream` schema would stand for any bytes at all)."""
    return {
        "requestBody": {
            "required": True,
            "description": "The inference request as JSON. With the binary tensor data "
            f"extension the body is this JSON followed by the inputs' bytes: `{HEADER_LENGTH}` "
            "gives the JSON part's length and each binary input's `parameters.binary_data_size` "
            "its bytes (little-endian, row major; a BYTES element is a 4-byte length, then "
            "its UTF-8 text).",
            "content": {"application/json": {"schema": inline_schema(InferRequest)}},
        },
    }


def _infer_responses() -> dict[int | str, dict[str, Any]]:
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {
        200: {
            "model": InferResponse,
            "description": "The scores; with `binary_data` asked for, the JSON part then the "
            f"scores as little-endian FP32 (`{HEADER_LENGTH}` gives the JSON part's length)",
            "content": {"application/octet-stream": binary},
            "headers": {
                HEADER_LENGTH: {
                    "description": "the JSON part's length, in a binary response",
                    "schema": {"type": "integer", "minimum": 0},
                }
            },
        },
        **_errors(404, 413, 422, 503, 504),
    }


def endpoint_label(path: str) -> str | None:
    """The metrics' endpoint label of a v2 path: model names and versions kept out of it."""
    if not is_v2_path(path):
        return None
    if not path.startswith("/v2/models/"):
        return path
    for suffix in ("/infer", "/ready"):
        if path.endswith(suffix):
            return "/v2/models/{name}" + suffix
    return "/v2/models/{name}"


def _state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


def _model(request: Request, name: str) -> tuple[ServedModel, Batcher]:
    """The named model, and the version the path names if it names one."""
    model, batcher = _state(request).model(name)
    version = request.path_params.get("version")
    if version is not None and version != model.version:
        raise ModelNotFound(f"model {name!r} has version {model.version!r}, not {version!r}")
    return model, batcher


def model_metadata(model: ServedModel) -> dict[str, Any]:
    layout = model.layout
    return {
        "name": model.name,
        "versions": [model.version],
        "platform": f"robe_{model.runtime.backend}",
        "inputs": [
            {"name": DENSE, "datatype": DATATYPES[DENSE], "shape": [-1, layout.num_dense]},
            {"name": SPARSE, "datatype": DATATYPES[SPARSE], "shape": [-1, layout.num_sparse]},
        ],
        "outputs": [{"name": SCORE, "datatype": "FP32", "shape": [-1]}],
        # the column order of the two inputs (not part of v2: clients need it to build rows)
        "parameters": {
            "dense_features": ",".join(f.name for f in model.schema.dense),
            "sparse_features": ",".join(f.name for f in model.schema.sparse),
        },
    }


def feature_rows(
    model: ServedModel, tensors: list[Tensor], max_rows: int
) -> list[Mapping[str, object]]:
    """Each row as the name -> raw value mapping a /score row would be."""
    schema = model.schema
    names = {DENSE: [f.name for f in schema.dense], SPARSE: [f.name for f in schema.sparse]}
    by_name: dict[str, Tensor] = {}
    for t in tensors:
        if t.name not in names:
            raise InvalidInput(f"inputs: unknown input {t.name!r} (the model takes dense, sparse)")
        if t.name in by_name:
            raise InvalidInput(f"inputs: {t.name!r} is given twice")
        if t.datatype != DATATYPES[t.name]:
            raise InvalidInput(
                f"inputs.{t.name}: datatype must be {DATATYPES[t.name]}, got {t.datatype}"
            )
        width = len(names[t.name])
        if len(t.shape) != 2 or t.shape[1] != width:
            raise InvalidInput(
                f"inputs.{t.name}: shape must be [rows, {width}], got {list(t.shape)}"
            )
        by_name[t.name] = t
    counts = {t.shape[0] for t in by_name.values()}
    for name in (DENSE, SPARSE):
        if name not in by_name and names[name]:
            raise InvalidInput(f"inputs: {name!r} is missing")
    if len(counts) != 1:
        raise InvalidInput(f"inputs: dense and sparse give different row counts {sorted(counts)}")
    n = counts.pop()
    if n == 0:
        raise InvalidInput("inputs: no rows")
    if n > max_rows:
        raise PayloadTooLarge(f"inputs: {n} rows is over the limit of {max_rows} rows per request")
    rows: list[dict[str, object]] = [{} for _ in range(n)]
    for name, tensor in by_name.items():
        cols = names[name]
        width = len(cols)
        values = tensor.values
        for i, row in enumerate(rows):
            row.update(zip(cols, values[i * width : (i + 1) * width], strict=True))
    return list(rows)


def _binary_output(req: InferRequest) -> bool:
    """Whether the output goes back as binary data: the output's `binary_data` parameter,
    else the request's `binary_data_output`, else JSON."""
    outputs = req.outputs or []
    if len(outputs) > 1:
        raise InvalidInput(f"outputs: the model gives one output, score; {len(outputs)} asked for")
    if outputs and outputs[0].name != SCORE:
        raise InvalidInput(f"outputs: unknown output {outputs[0].name!r} (the model gives score)")
    for where, params, key in (
        ("outputs[0].parameters", outputs[0].parameters if outputs else None, "binary_data"),
        ("parameters", req.parameters, "binary_data_output"),
    ):
        flag = (params or {}).get(key)
        if flag is not None:
            if not isinstance(flag, bool):
                raise InvalidInput(f"{where}.{key}: true or false, got {flag!r}")
            return flag
    return False


def _timeout_s(req: InferRequest, limit_s: float) -> float:
    """The request's `timeout` parameter (microseconds, as Triton's), capped by the server's."""
    timeout = (req.parameters or {}).get("timeout")
    if timeout is None:
        return limit_s
    if isinstance(timeout, float) and timeout.is_integer():
        timeout = int(timeout)  # JSON does not tell 10 from 10.0
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0:
        raise InvalidInput(f"parameters.timeout: microseconds > 0, got {timeout!r}")
    # compared before dividing: a JSON integer may be past float64's range
    return limit_s if timeout >= limit_s * 1e6 else timeout / 1e6


def add_v2_routes(app: FastAPI, settings: Settings) -> None:
    @app.get("/v2/health/live", summary="v2: alive")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get(
        "/v2/health/ready",
        summary="v2: ready (503 while starting or draining)",
        responses=_errors(503),
    )
    async def ready(request: Request) -> dict[str, bool]:
        state = _state(request)
        if state.draining or not state.ready:
            raise NotReady("draining" if state.draining else "starting")
        return {"ready": True}

    @app.get("/v2", summary="v2: server metadata")
    async def server_metadata(request: Request) -> dict[str, Any]:
        version = request.app.version  # the API version the OpenAPI document states
        return {"name": "robe-serve", "version": version, "extensions": list(EXTENSIONS)}

    model_errors = _errors(404, 503)

    async def metadata(request: Request, name: str) -> dict[str, Any]:
        return model_metadata(_model(request, name)[0])

    async def model_ready(request: Request, name: str) -> dict[str, Any]:
        return {"name": _model(request, name)[0].name, "ready": True}

    _model_route(app, "get", "", metadata, summary="v2: model metadata", responses=model_errors)
    _model_route(
        app, "get", "/ready", model_ready, summary="v2: model ready", responses=model_errors
    )

    async def infer(request: Request, name: str) -> Response:
        t0 = time.perf_counter()
        state = _state(request)
        model, batcher = _model(request, name)
        request.state.model = model.name
        body = await read_body(request, settings.max_body_bytes)
        req, tensors = decode_request(body, request.headers.get(HEADER_LENGTH))
        binary = _binary_output(req)
        timeout_s = _timeout_s(req, settings.request_timeout_s)
        rows = feature_rows(model, tensors, settings.max_request_rows)
        dense, keys = model.layout.rows(rows, "inputs")
        m = state.metrics
        t1 = time.perf_counter()
        m.stage_duration.labels(model.name, "parse").observe(t1 - t0)
        scores = await await_scores(request, batcher.submit(dense, keys, timeout_s))
        if scores is None:
            return Response(status_code=499)
        t2 = time.perf_counter()
        head: dict[str, Any] = {"model_name": model.name, "model_version": model.version}
        if req.id is not None:
            head["id"] = req.id
        content, headers = encode_response(head, SCORE, scores, binary)
        response = Response(content, headers=headers)
        m.stage_duration.labels(model.name, "postprocess").observe(time.perf_counter() - t2)
        return response

    _model_route(
        app,
        "post",
        "/infer",
        infer,
        summary="v2: score rows given as tensors",
        responses=_infer_responses(),
        openapi_extra=_infer_doc(),
    )


Handler = Callable[[Request, str], Awaitable[Any]]


def _model_route(app: FastAPI, method: str, suffix: str, handler: Handler, **doc: Any) -> None:
    """`handler(request, name)` at /v2/models/{name}SUFFIX and at
    /v2/models/{name}/versions/{version}SUFFIX: one function per route, so that OpenAPI
    declares each route's path parameters (`_model` checks the version)."""

    async def versioned(request: Request, name: str, version: str) -> Any:
        return await handler(request, name)

    versioned.__name__ = f"{handler.__name__}_version"
    register = getattr(app, method)
    register(f"/v2/models/{{name}}{suffix}", **doc)(handler)
    register(f"/v2/models/{{name}}/versions/{{version}}{suffix}", **doc)(versioned)

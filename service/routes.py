"""The HTTP endpoints of DESIGN.md: /recommend, /score, /healthz, /readyz, /metrics,
/v1/models (and /bench/floor for `robe bench service`)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel

from service.batcher import Batcher
from service.bodies import await_scores, parse, read_body
from service.errors import InvalidInput, NotReady, PayloadTooLarge
from service.fastpath import ServiceApp
from service.metrics import CONTENT_TYPE
from service.models import ServedModel
from service.runtimes.base import Scores
from service.schemas import (
    ErrorResponse,
    ModelInfo,
    ModelRequest,
    ModelsResponse,
    RecommendRequest,
    RecommendResponse,
    ScoreRequest,
    ScoreResponse,
    error_responses,
)
from service.settings import Settings
from service.state import ServiceState

ERROR_RESPONSES = error_responses(
    (404, "unknown model"),
    (413, "body or rows over the limit"),
    (422, "invalid input; the message names the field"),
    (503, "queue full or predicted wait too long (Retry-After), or not ready"),
    (504, "deadline exceeded (or can no longer be met)"),
)


def _state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


def top_k(scores: Scores, k: int) -> np.ndarray[Any, np.dtype[np.int64]]:
    if k < scores.shape[0]:
        part = np.argpartition(-scores, k - 1)[:k]
        return part[np.argsort(-scores[part], kind="stable")].astype(np.int64)
    return np.argsort(-scores, kind="stable").astype(np.int64)


R = TypeVar("R", bound=ModelRequest)
Handler = Callable[[Request], Awaitable[Response]]


async def _accept(
    request: Request, cls: type[R], settings: Settings
) -> tuple[ServiceState, R, ServedModel, Batcher]:
    """The request's body, parsed, and the model it names (which labels its metrics)."""
    state = _state(request)
    req = parse(cls, await read_body(request, settings.max_body_bytes))
    model, batcher = state.model(req.model)
    request.state.model = model.name
    return state, req, model, batcher


def _post(
    app: FastAPI, path: str, body: type[BaseModel], response: type[BaseModel], summary: str
) -> Callable[[Handler], Handler]:
    """Register a POST endpoint whose handler parses `body` itself (see _accept): the
    schema is given to OpenAPI by hand so that /docs still shows it. On a ServiceApp the
    handler is also its direct route (service.fastpath), which serves the requests."""
    schema = body.model_json_schema(ref_template="#/components/schemas/{model}")
    route = app.post(
        path,
        response_model=response,
        responses=ERROR_RESPONSES,
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}
        },
        summary=summary,
    )

    def register(handler: Handler) -> Handler:
        if isinstance(app, ServiceApp):
            app.add_direct_post(path, handler)
        return route(handler)

    return register


def add_routes(app: FastAPI, settings: Settings) -> None:
    @_post(app, "/recommend", RecommendRequest, RecommendResponse, "Rank catalog items for a user")
    async def recommend(request: Request) -> Response:
        t0 = time.perf_counter()
        state, req, model, batcher = await _accept(request, RecommendRequest, settings)
        if not 1 <= req.k <= settings.max_k:
            raise InvalidInput(f"k: must be between 1 and {settings.max_k}, got {req.k}")
        catalog = model.catalog
        if req.candidates is not None:
            if len(req.candidates) > settings.max_request_rows:
                raise PayloadTooLarge(
                    f"candidates: {len(req.candidates)} items is over the limit of "
                    f"{settings.max_request_rows} rows per request"
                )
            index = catalog.resolve([str(c) for c in req.candidates])
        else:
            if len(catalog) == 0:
                raise InvalidInput(
                    f"candidates: model {model.name!r} has no catalog; give candidates"
                )
            index = np.arange(len(catalog))
        if req.exclude:
            if len(req.exclude) > settings.max_request_rows:
                raise PayloadTooLarge(
                    f"exclude: {len(req.exclude)} items is over the limit of "
                    f"{settings.max_request_rows} rows per request"
                )
            excluded = catalog.resolve([str(i) for i in req.exclude], "exclude")
            index = index[~np.isin(index, excluded)]
            if index.size == 0:  # a valid request with nothing left to rank: no items
                return JSONResponse(
                    {"model": model.name, "model_version": model.version, "items": [], "scored": 0}
                )
        user_dense, user_keys = model.layout.encode(req.user, ("user", "context"), "user")
        # refused before its rows are built: a refusal under overload costs little
        admission = batcher.admit(len(index), req.timeout_s(settings.request_timeout_s))
        dense, keys = model.layout.recommend_rows(
            user_dense, user_keys, catalog.dense[index], catalog.keys[index]
        )
        m = state.metrics
        t1 = time.perf_counter()
        m.stage_duration.labels(model.name, "parse").observe(t1 - t0)
        future = batcher.enqueue(admission, dense, keys)
        scores = await await_scores(request, future)
        if scores is None:
            return Response(status_code=499)
        t2 = time.perf_counter()
        best = top_k(scores, req.k)
        ids = catalog.ids[index[best]].tolist()
        top = scores[best].tolist()
        content = {
            "model": model.name,
            "model_version": model.version,
            "items": [{"item_id": i, "score": s} for i, s in zip(ids, top, strict=True)],
            "scored": int(scores.shape[0]),
        }
        response = JSONResponse(content)
        m.stage_duration.labels(model.name, "postprocess").observe(time.perf_counter() - t2)
        return response

    @_post(app, "/score", ScoreRequest, ScoreResponse, "Score rows of features")
    async def score(request: Request) -> Response:
        t0 = time.perf_counter()
        state, req, model, batcher = await _accept(request, ScoreRequest, settings)
        if len(req.rows) > settings.max_request_rows:
            raise PayloadTooLarge(
                f"rows: {len(req.rows)} rows is over the limit of "
                f"{settings.max_request_rows} rows per request"
            )
        dense, keys = model.layout.rows(list(req.rows), "rows")
        m = state.metrics
        t1 = time.perf_counter()
        m.stage_duration.labels(model.name, "parse").observe(t1 - t0)
        scores = await await_scores(
            request, batcher.submit(dense, keys, req.timeout_s(settings.request_timeout_s))
        )
        if scores is None:
            return Response(status_code=499)
        t2 = time.perf_counter()
        response = JSONResponse(
            {"model": model.name, "model_version": model.version, "scores": scores.tolist()}
        )
        m.stage_duration.labels(model.name, "postprocess").observe(time.perf_counter() - t2)
        return response

    @app.get("/healthz", summary="Alive")
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.get(
        "/readyz",
        summary="Models loaded and warmed, batchers running",
        responses={503: {"model": ErrorResponse}},
    )
    async def readyz(request: Request) -> dict[str, Any]:
        state = _state(request)
        if state.draining:
            raise NotReady("draining")
        if not state.ready or not state.models:
            raise NotReady("starting" if not state.ready else "no model loaded")
        return {"status": "ready", "models": sorted(state.models)}

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics_endpoint(request: Request) -> Response:
        return Response(_state(request).metrics.exposition(), media_type=CONTENT_TYPE)

    @app.get("/v1/models", response_model=ModelsResponse, summary="Loaded models")
    async def models(request: Request) -> ModelsResponse:
        state = _state(request)
        return ModelsResponse(
            models=[
                ModelInfo(
                    name=m.name,
                    version=m.version,
                    backend=m.runtime.backend,
                    device=m.runtime.device,
                    precision=m.precision,
                    embedding=m.embedding,
                    embedding_bytes=m.embedding_bytes,
                    full_equivalent_bytes=m.full_equivalent_bytes,
                    compression=round(m.compression, 3),
                    catalog_items=len(m.catalog),
                    default=m.name == state.default,
                    schema_name=m.schema.name,
                    features=m.layout.features_by_side(),
                )
                for m in state.models.values()
            ]
        )

    if settings.floor_endpoint:

        @app.post("/bench/floor", include_in_schema=False)
        async def floor(request: Request) -> Response:
            """HTTP and validation alone: parse the /recommend payload, return a constant."""
            _, req, model, _ = await _accept(request, RecommendRequest, settings)
            request.state.model = "floor"
            model.layout.encode(req.user, ("user", "context"), "user")
            return JSONResponse({"model": "floor", "model_version": "0", "items": [], "scored": 0})

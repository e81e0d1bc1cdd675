"""The composition root: `build_app(settings)` and the lifespan that owns the models.

Startup (lifespan enter): resolve the device, load every model, start one inference
thread per device and one batcher per model, warm every batch-size bucket, then
`/readyz` turns ready. Shutdown (lifespan exit, after uvicorn's SIGTERM handling has
stopped intake and let in-flight requests finish): `/readyz` turns 503, every batcher
runs what is queued, then threads and runtimes are released.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.batcher import Batcher
from service.errors import (
    HTTP_TYPES,
    InvalidInput,
    ModelLoadError,
    ModelNotFound,
    NotReady,
    PayloadTooLarge,
    ServiceError,
    error_body,
)
from service.metrics import CONTENT_TYPE, Metrics
from service.models import ServedModel, load_model
from service.runtimes.base import Runtime, Scores, resolve_device
from service.schemas import (
    ErrorResponse,
    ModelInfo,
    ModelsResponse,
    RecommendRequest,
    RecommendResponse,
    ScoreRequest,
    ScoreResponse,
)
from service.settings import Settings

log = logging.getLogger("robe.service")

ENDPOINTS = (
    "/recommend",
    "/score",
    "/healthz",
    "/readyz",
    "/metrics",
    "/v1/models",
    "/bench/floor",
)
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": desc}
    for code, desc in [
        (404, "unknown model"),
        (413, "body or rows over the limit"),
        (422, "invalid input; the message names the field"),
        (503, "queue full (Retry-After) or not ready"),
        (504, "deadline exceeded"),
    ]
}


@dataclass
class ServiceState:
    """What the lifespan puts in `app.state.service`."""

    settings: Settings
    metrics: Metrics
    models: dict[str, ServedModel] = field(default_factory=dict)
    batchers: dict[str, Batcher] = field(default_factory=dict)
    executors: dict[str, ThreadPoolExecutor] = field(default_factory=dict)
    default: str = ""
    device: str = "cpu"
    ready: bool = False
    draining: bool = False

    def model(self, name: str | None) -> tuple[ServedModel, Batcher]:
        if not self.ready:
            raise NotReady("draining" if self.draining else "models are still loading")
        key = name if name is not None else self.default
        if key not in self.models:
            known = ", ".join(sorted(self.models))
            raise ModelNotFound(f"model {key!r} is not loaded (loaded: {known})")
        return self.models[key], self.batchers[key]


# -- startup and shutdown --------------------------------------------------------------
async def start_service(state: ServiceState) -> None:
    s = state.settings
    if not s.models:
        raise ModelLoadError("no model to serve: give --model ARTIFACT (or ROBE_MODELS)")
    state.device = resolve_device(s.device)
    for name, path in s.model_paths():
        t0 = time.perf_counter()
        model = await asyncio.to_thread(
            load_model, name, path, s.backend, state.device, s.inference_threads()
        )
        if model.name in state.models:
            raise ModelLoadError(f"model name {model.name!r} is used twice")
        state.models[model.name] = model
        log.info(
            "model %s: %s v%s, %s on %s, %s embeddings (%.1fx smaller), %d items, loaded in %.1fs",
            model.name,
            model.path,
            model.version,
            model.runtime.backend,
            model.runtime.device,
            model.embedding,
            model.compression,
            len(model.catalog),
            time.perf_counter() - t0,
        )
        m = state.metrics
        m.model_info.labels(
            model.name, model.version, model.runtime.backend, model.runtime.device, model.embedding
        ).set(1)
        m.embedding_bytes.labels(model.name).set(model.embedding_bytes)
        m.full_equivalent_bytes.labels(model.name).set(model.full_equivalent_bytes)
        for endpoint in ("/recommend", "/score"):
            m.request_duration.labels(model.name, endpoint)
        for stage in ("parse", "queue", "inference", "postprocess"):
            m.stage_duration.labels(model.name, stage)
        m.batch_rows.labels(model.name)
        m.batch_requests.labels(model.name)
        m.queue_rows.labels(model.name).set(0)
        m.rows_scored.labels(model.name)
        for reason in ("queue_full", "deadline", "cancelled", "draining"):
            m.rejected.labels(model.name, reason)
    state.default = next(iter(state.models))
    buckets = s.buckets()
    for model in state.models.values():
        device = model.runtime.device
        if device not in state.executors:  # one inference thread per device
            runtimes = [m.runtime for m in state.models.values() if m.runtime.device == device]
            state.executors[device] = ThreadPoolExecutor(
                1,
                thread_name_prefix=f"infer-{device}",
                initializer=_init_thread,
                initargs=(runtimes,),
            )
        executor = state.executors[device]
        if s.warmup:
            t0 = time.perf_counter()
            await asyncio.get_running_loop().run_in_executor(executor, _warm, model, buckets)
            log.info(
                "model %s: warmed %d batch sizes (%s) in %.1fs",
                model.name,
                len(buckets),
                ",".join(map(str, buckets)),
                time.perf_counter() - t0,
            )
        batcher = Batcher(
            model.name,
            model.runtime.predict,
            executor,
            max_batch_rows=s.max_batch_rows,
            max_wait_s=s.max_wait_ms / 1000,
            max_queue_rows=s.max_queue_rows,
            batching=s.batching,
            buckets=buckets if model.runtime.pad_to_buckets else None,
            metrics=state.metrics,
        )
        batcher.start()
        state.batchers[model.name] = batcher
    state.ready = True
    log.info(
        "ready: %s (default %s), batching %s",
        ", ".join(state.models),
        state.default,
        f"on ({s.max_batch_rows} rows / {s.max_wait_ms} ms)" if s.batching else "off",
    )


def _init_thread(runtimes: list[Runtime]) -> None:
    for runtime in runtimes:
        runtime.init_thread()


def _warm(model: ServedModel, buckets: list[int]) -> None:
    layout = model.layout
    for size in buckets:
        if len(model.catalog):
            idx = np.arange(size) % len(model.catalog)
            dense, keys = model.catalog.dense[idx], model.catalog.keys[idx]
        else:
            dense = np.zeros((size, layout.num_dense), np.float32)
            keys = np.zeros((size, layout.num_sparse), np.int64)
        scores = model.runtime.predict(dense, keys)
        if scores.shape != (size,) or not np.isfinite(scores).all():
            raise RuntimeError(f"model {model.name}: warm-up at {size} rows gave bad scores")


async def stop_service(state: ServiceState) -> None:
    state.ready = False
    state.draining = True
    await asyncio.gather(*(b.close() for b in state.batchers.values()))
    for executor in state.executors.values():
        executor.shutdown(wait=True)
    for model in state.models.values():
        model.runtime.close()
    log.info("stopped: queues drained")


# -- request helpers ---------------------------------------------------------------------
async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes is over the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


T = TypeVar("T", bound=BaseModel)


def parse(cls: type[T], body: bytes) -> T:
    try:
        return cls.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidInput(describe_validation(exc)) from None


def describe_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        if err["type"] == "json_invalid":
            parts.append(f"body: malformed JSON ({err['msg']})")
            continue
        loc = ".".join(str(p) for p in err["loc"] if not _is_union_tag(p)) or "body"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(dict.fromkeys(parts))


def _is_union_tag(part: object) -> bool:
    return isinstance(part, str) and part in {
        "int",
        "float",
        "str",
        "bool",
        "none",
        "list[str]",
        "is-instance[dict]",
    }


async def _disconnected(receive: Callable[[], Awaitable[MutableMapping[str, Any]]]) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def await_scores(request: Request, future: asyncio.Future[Scores]) -> Scores | None:
    """The request's scores, or None when its client went away first (it is dropped)."""
    watcher = asyncio.ensure_future(_disconnected(request.receive))
    try:
        await asyncio.wait((future, watcher), return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if not future.done():
        future.cancel()  # the batcher drops it when the next batch forms
        return None
    return future.result()


def top_k(scores: Scores, k: int) -> np.ndarray[Any, np.dtype[np.int64]]:
    if k < scores.shape[0]:
        part = np.argpartition(-scores, k - 1)[:k]
        return part[np.argsort(-scores[part], kind="stable")].astype(np.int64)
    return np.argsort(-scores, kind="stable").astype(np.int64)


# -- the app ---------------------------------------------------------------------------
def build_app(settings: Settings) -> FastAPI:
    """The application; nothing is loaded until its lifespan starts."""
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = ServiceState(settings=settings, metrics=metrics)
        app.state.service = state
        try:
            try:
                await start_service(state)
            except ModelLoadError as exc:
                app.state.startup_error = str(exc)
                log.error("startup failed: %s", exc)
                raise
            yield
        finally:
            await stop_service(state)

    app = FastAPI(
        title="robe-serve",
        version="0.1.0",
        summary="DLRM recommendations with ROBE-compressed embeddings",
        description=(
            'Every error has the body `{"error": {"code", "type", "message"}}`: '
            "422 invalid input (the message names the field), 404 unknown model, 413 body "
            "or rows over the limit, 503 queue full (with Retry-After) or not ready, "
            "504 deadline exceeded."
        ),
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    app.add_middleware(RequestMetrics, metrics=metrics)
    _add_error_handlers(app)
    _add_routes(app, settings)
    return app


def _state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


def _add_error_handlers(app: FastAPI) -> None:
    def respond(exc: ServiceError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.status, exc.type, exc.message), exc.status, headers=exc.headers
        )

    async def on_service_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServiceError)
        return respond(exc)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        type_ = HTTP_TYPES.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(exc.status_code, type_, str(exc.detail)),
            exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        msg = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
        return respond(InvalidInput(msg))

    async def on_bug(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s", request.url.path)
        return JSONResponse(
            error_body(500, "internal", f"internal error: {type(exc).__name__}"), 500
        )

    app.add_exception_handler(ServiceError, on_service_error)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(Exception, on_bug)


def _body_doc(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": model.model_json_schema(ref_template="#/components/schemas/{model}")
                }
            },
        }
    }


def _add_routes(app: FastAPI, settings: Settings) -> None:
    @app.post(
        "/recommend",
        response_model=RecommendResponse,
        responses=ERROR_RESPONSES,
        openapi_extra=_body_doc(RecommendRequest),
        summary="Rank catalog items for a user",
    )
    async def recommend(request: Request) -> Response:
        t0 = time.perf_counter()
        state = _state(request)
        body = await read_body(request, settings.max_body_bytes)
        req = parse(RecommendRequest, body)
        model, batcher = state.model(req.model)
        request.state.model = model.name
        if not 1 <= req.k <= settings.max_k:
            raise InvalidInput(f"k: must be between 1 and {settings.max_k}, got {req.k}")
        catalog = model.catalog
        if req.candidates is not None:
            if len(req.candidates) > settings.max_request_rows:
                raise PayloadTooLarge(
                    f"candidates: {len(req.candidates)} items is over the limit of "
                    f"{settings.max_request_rows} rows per request"
                )
            index = catalog.resolve(req.candidates)
        else:
            if len(catalog) == 0:
                raise InvalidInput(
                    f"candidates: model {model.name!r} has no catalog; give candidates"
                )
            index = np.arange(len(catalog))
        user_dense, user_keys = model.layout.encode(req.user, ("user", "context"), "user")
        dense, keys = model.layout.recommend_rows(
            user_dense, user_keys, catalog.dense[index], catalog.keys[index]
        )
        m = state.metrics
        t1 = time.perf_counter()
        m.stage_duration.labels(model.name, "parse").observe(t1 - t0)
        future = batcher.submit(dense, keys, settings.request_timeout_s)
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

    @app.post(
        "/score",
        response_model=ScoreResponse,
        responses=ERROR_RESPONSES,
        openapi_extra=_body_doc(ScoreRequest),
        summary="Score rows of features",
    )
    async def score(request: Request) -> Response:
        t0 = time.perf_counter()
        state = _state(request)
        body = await read_body(request, settings.max_body_bytes)
        req = parse(ScoreRequest, body)
        model, batcher = state.model(req.model)
        request.state.model = model.name
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
            request, batcher.submit(dense, keys, settings.request_timeout_s)
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
        if not state.ready:
            raise NotReady("draining" if state.draining else "starting")
        return {"status": "ready", "models": sorted(state.models)}

    @app.get("/metrics", summary="Prometheus metrics")
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
            state = _state(request)
            req = parse(RecommendRequest, await read_body(request, settings.max_body_bytes))
            model, _ = state.model(req.model)
            request.state.model = "floor"
            model.layout.encode(req.user, ("user", "context"), "user")
            return JSONResponse({"model": "floor", "model_version": "0", "items": [], "scored": 0})


class RequestMetrics:
    """Pure ASGI middleware: robe_requests_total and robe_request_duration_seconds."""

    def __init__(self, app: Callable[..., Awaitable[None]], metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            path = scope.get("path", "")
            endpoint = path if path in ENDPOINTS else "other"
            model = str(scope.get("state", {}).get("model", ""))
            self.metrics.requests.labels(model, endpoint, str(status)).inc()
            if endpoint in ("/recommend", "/score") and model:
                self.metrics.request_duration.labels(model, endpoint).observe(
                    time.perf_counter() - start
                )

"""The composition root: `build_app(settings)`, the lifespan that owns the models, and the
error handlers where exceptions become HTTP responses (`service.errors` gives each its
code; the handlers and the direct route of `service.fastpath` build them alike).

The parts it composes: `service.state` (what runs, and how it starts and stops),
`service.routes` (the endpoints), `service.admin` (the model repository API, with an
admin token), `service.middleware` (request metrics; `Connection: close` while
draining), `service.fastpath` (the app class: the scoring endpoints' direct route).
The lifespan starts the service on enter and, on exit (after
`service.drain.DrainingServer` has drained, stopped intake and let in-flight requests
finish), lets every batcher run what is queued, and releases threads and runtimes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from service import openapi
from service.admin import add_repository_routes
from service.drain import is_draining
from service.errors import HTTP_TYPES, InvalidInput, ModelLoadError, ServiceError, error_body
from service.fastpath import ServiceApp, internal_error_response, service_error_response
from service.metrics import Metrics
from service.middleware import RequestMetrics
from service.routes import add_routes
from service.settings import Settings
from service.state import ServiceState, start_service, stop_service
from service.v2 import add_v2_routes

log = logging.getLogger("robe.service")


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

    app = ServiceApp(
        metrics,
        title="robe-serve",
        version="0.1.0",
        summary="DLRM recommendations with ROBE-compressed embeddings",
        description=(
            'Every error has the body `{"error": {"code", "type", "message"}}`: '
            "422 invalid input (the message names the field), 404 unknown model, 413 body "
            "or rows over the limit, 503 queue full or predicted wait over the deadline "
            "(both with Retry-After) or not ready, 504 deadline exceeded."
        ),
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    app.add_middleware(RequestMetrics, metrics=metrics, draining=is_draining)
    _add_error_handlers(app)
    add_routes(app, settings)
    add_v2_routes(app, settings)
    add_repository_routes(app, settings)
    openapi.install(app, settings)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    async def on_service_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServiceError)
        return service_error_response(request, exc)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        type_ = HTTP_TYPES.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(exc.status_code, type_, str(exc.detail), request.url.path),
            exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        msg = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
        return service_error_response(request, InvalidInput(msg))

    async def on_bug(request: Request, exc: Exception) -> Response:
        return internal_error_response(request, exc)

    app.add_exception_handler(ServiceError, on_service_error)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(Exception, on_bug)

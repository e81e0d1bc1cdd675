"""The scoring endpoints' short way in: `ServiceApp`, FastAPI with a direct route for them.

A POST to a scoring path (/recommend, /score) goes straight to its handler, wrapped in
the service's own request middleware (`service.middleware.RequestMetrics`: metrics and
`Connection: close` while draining) and mapped to the one error body
(`service.errors`), as FastAPI would have done. Everything else (other paths, other
methods, the OpenAPI document, which still lists these routes) goes through FastAPI.

Why: on a small CPU box the event loop thread is the server's serial part. Measured on
this project's 2-core machine, Starlette's middleware stack, router and FastAPI's
request wrapper took about 0.1-0.15 ms of that thread per request, a quarter of what
all of /recommend costs it besides the model; the scoring handlers parse and validate
their own bodies (service.bodies) and need none of it. Middleware added to the app
with `add_middleware` does not see these two paths: RequestMetrics is the service's
one per-request middleware and is applied here as well.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from service.drain import is_draining
from service.errors import ServiceError, error_body
from service.metrics import Metrics
from service.middleware import RequestMetrics

log = logging.getLogger("robe.service")

Endpoint = Callable[[Request], Awaitable[Response]]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def service_error_response(request: Request, exc: ServiceError) -> JSONResponse:
    """A domain error as its HTTP response: the error table's code and the one body."""
    body = error_body(exc.status, exc.type, exc.message, request.url.path)
    return JSONResponse(body, exc.status, headers=exc.headers)


def internal_error_response(request: Request, exc: Exception) -> JSONResponse:
    """An unexpected exception (a bug): logged with its traceback, answered 500."""
    log.error("unexpected error on %s", request.url.path, exc_info=exc)
    return JSONResponse(
        error_body(500, "internal", f"internal error: {type(exc).__name__}", request.url.path),
        500,
    )


class ServiceApp(FastAPI):
    """FastAPI whose `direct` POST routes skip Starlette's middleware stack and router."""

    def __init__(self, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.direct: dict[str, Endpoint] = {}
        self._direct_stack = RequestMetrics(self._dispatch, metrics, draining=is_draining)

    def add_direct_post(self, path: str, endpoint: Endpoint) -> None:
        """Serve POST `path` by `endpoint` directly (it is also a FastAPI route: docs)."""
        self.direct[path] = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and not scope.get("root_path")
            and not self.root_path
            and scope["path"] in self.direct
        ):
            scope["app"] = self
            await self._direct_stack(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        try:
            response = await self.direct[scope["path"]](request)
        except ServiceError as exc:
            response = service_error_response(request, exc)
        except Exception as exc:
            response = internal_error_response(request, exc)
        await response(scope, receive, send)

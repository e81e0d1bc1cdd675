"""The one per-request middleware: it counts every request and times the scoring ones,
labelled by model and endpoint, and while the service drains (SIGTERM) it answers every
response with `Connection: close`, so that clients move to other replicas."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from service.metrics import Metrics
from service.v2 import INFER_ENDPOINT, endpoint_label

ENDPOINTS = (
    "/recommend",
    "/score",
    "/healthz",
    "/readyz",
    "/metrics",
    "/v1/models",
    "/bench/floor",
)


class RequestMetrics:
    """Pure ASGI middleware: robe_requests_total, robe_request_duration_seconds, and
    `Connection: close` while `draining(app)` says so."""

    def __init__(
        self,
        app: Callable[..., Awaitable[None]],
        metrics: Metrics,
        draining: Callable[[Any], bool] = lambda app: False,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.draining = draining

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
                if self.draining(scope["app"]):
                    headers = [h for h in message.get("headers", []) if h[0] != b"connection"]
                    message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            path = scope.get("path", "")
            endpoint = path if path in ENDPOINTS else endpoint_label(path) or "other"
            model = str(scope.get("state", {}).get("model", ""))
            self.metrics.requests.labels(model, endpoint, str(status)).inc()
            if endpoint in ("/recommend", "/score", INFER_ENDPOINT) and model:
                self.metrics.request_duration.labels(model, endpoint).observe(
                    time.perf_counter() - start
                )

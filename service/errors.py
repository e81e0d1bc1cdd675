"""Domain errors of the service, and the one place that maps them to HTTP.

Model, batcher and row code raise these (or ValueError naming the bad value); none of
them knows about HTTP. `error_body` is the single error shape of the API:

    {"error": {"code": 422, "type": "invalid_input", "message": "user.C3: ..."}}

except under the Open Inference Protocol v2's paths (service.v2), where the same codes
carry the body its clients read: {"error": "inputs[0].C3: ..."}.

| exception          | code | type               | when                                       |
| ------------------ | ---- | ------------------ | ------------------------------------------ |
| InvalidInput       | 422  | invalid_input      | malformed JSON, wrong type, unknown feature, |
|                    |      |                    | NaN/inf, bad k, unknown/duplicate candidate  |
| ModelNotFound      | 404  | model_not_found    | `model` names no loaded model              |
| PayloadTooLarge    | 413  | payload_too_large  | body bytes or rows over the limit          |
| ArtifactRefused    | 400  | artifact_refused   | a model load given a damaged or unusable   |
|                    |      |                    | artifact (the old model keeps serving)     |
| Unauthorized       | 401  | unauthorized       | admin endpoint without a Bearer token      |
| Forbidden          | 403  | forbidden          | admin endpoint with the wrong token        |
| QueueFull          | 503  | queue_full         | queue over its row limit (Retry-After)     |
| Overloaded         | 503  | overloaded         | predicted wait over the request's deadline |
|                    |      |                    | (Retry-After from the prediction)          |
| NotReady           | 503  | not_ready          | starting or draining                       |
| DeadlineExceeded   | 504  | deadline_exceeded  | the request outwaited its deadline, or can |
|                    |      |                    | no longer make it (dropped before scoring) |
| ServiceError       | 500  | internal           | a bug (never expected)                     |
"""

from __future__ import annotations

from typing import Any, ClassVar


class ServiceError(Exception):
    """Base of all service errors; subclasses fix the HTTP status and error type."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "internal"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class InvalidInput(ServiceError):
    status = 422
    type = "invalid_input"


class ModelNotFound(ServiceError):
    status = 404
    type = "model_not_found"


class PayloadTooLarge(ServiceError):
    status = 413
    type = "payload_too_large"


class RetryLater(ServiceError):
    """A 503 that tells the client when to come back (Retry-After, whole seconds)."""

    status = 503

    def __init__(self, message: str, *, retry_after_s: int = 1) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after_s)})


class QueueFull(RetryLater):
    type = "queue_full"


class Overloaded(RetryLater):
    type = "overloaded"


class ArtifactRefused(ServiceError):
    status = 400
    type = "artifact_refused"


class Unauthorized(ServiceError):
    status = 401
    type = "unauthorized"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ServiceError):
    status = 403
    type = "forbidden"


class NotReady(RetryLater):
    type = "not_ready"


class DeadlineExceeded(ServiceError):
    status = 504
    type = "deadline_exceeded"


class ModelLoadError(Exception):
    """A model that cannot be loaded or run (startup fails with this message)."""


def error_body(status: int, type_: str, message: str, path: str = "") -> dict[str, Any]:
    """The one error body shape of the API; under the Open Inference Protocol v2's paths,
    the shape its clients parse (`{"error": message}`), with the same status codes."""
    if is_v2_path(path):
        return {"error": message}
    return {"error": {"code": status, "type": type_, "message": message}}


def is_v2_path(path: str) -> bool:
    """The Open Inference Protocol's health, server and model paths (service.v2)."""
    return path == "/v2" or path.startswith(("/v2/health/", "/v2/models/"))


# Starlette's own HTTP errors (404 unknown path, 405 method) get the same shape.
HTTP_TYPES: dict[int, str] = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    422: "invalid_input",
    500: "internal",
    503: "not_ready",
    504: "deadline_exceeded",
}

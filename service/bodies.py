"""Reading a request: its body within the size limit, parsed into a schema with an error
that names the field, and its scores awaited unless the client goes away first."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from service.errors import InvalidInput, PayloadTooLarge
from service.runtimes.base import Scores


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
    # a departed client cancels the future (the batcher drops it when the next batch
    # forms); awaited directly, the scores wake this handler with no asyncio.wait between
    watcher.add_done_callback(lambda w: None if w.cancelled() else future.cancel())
    try:
        return await future
    except asyncio.CancelledError:
        if watcher.done() and not watcher.cancelled():
            return None  # the client went away
        raise
    finally:
        watcher.cancel()

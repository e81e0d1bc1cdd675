"""The `robe serve` flags: one per field of service.settings.Settings (env ROBE_*).

The service owns this table; a command line (`robe serve`, `python -m service`) only
mounts it on its parser with `add_arguments` and turns what was given into Settings
with `settings_from_flags`. Flags win over the environment.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any, get_args

from robe.errors import RobeError
from service.settings import Settings

# flag -> (Settings field, argparse keyword arguments)
FLAGS: dict[str, tuple[str, dict[str, Any]]] = {
    "--model": (
        "models",
        {
            "action": "append",
            "metavar": "[NAME=]ARTIFACT",
            "help": "model to serve (repeatable); the first is the default",
        },
    ),
    "--backend": ("backend", {}),
    "--device": ("device", {"help": "auto (cuda when present, else cpu), cpu or cuda"}),
    "--host": ("host", {}),
    "--port": ("port", {"type": int}),
    "--batching": (
        "batching",
        {
            "action": argparse.BooleanOptionalAction,
            "help": "coalesce requests into row batches (default on)",
        },
    ),
    "--max-batch-rows": ("max_batch_rows", {"type": int}),
    "--max-wait-ms": ("max_wait_ms", {"type": float}),
    "--max-queue-rows": ("max_queue_rows", {"type": int}),
    "--request-timeout-s": ("request_timeout_s", {"type": float}),
    "--max-request-rows": ("max_request_rows", {"type": int}),
    "--max-body-bytes": ("max_body_bytes", {"type": int}),
    "--max-k": ("max_k", {"type": int}),
    "--warmup": ("warmup", {"action": argparse.BooleanOptionalAction}),
    "--threads": ("threads", {"type": int}),
    "--floor-endpoint": ("floor_endpoint", {"action": argparse.BooleanOptionalAction}),
    "--log-level": ("log_level", {}),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Mount every flag on `parser`; an absent flag is None (the environment decides)."""
    for flag, (field, kwargs) in FLAGS.items():
        kwargs = dict(kwargs)
        kwargs.setdefault("help", _help(field))
        parser.add_argument(flag, dest=field, default=None, **kwargs)


def _help(field: str) -> str:
    info = Settings.model_fields[field]
    choices = get_args(info.annotation)
    text = info.description or field.replace("_", " ")
    if choices:
        text += f" ({', '.join(map(str, choices))})"
    return f"{text} [env ROBE_{field.upper()}, default {info.default!r}]"


def settings_from_flags(values: Mapping[str, Any]) -> Settings:
    """Settings from the environment, overridden by the flags given (not None) in `values`."""
    from pydantic import ValidationError

    given = {field: values[field] for field, _ in FLAGS.values() if values.get(field) is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise RobeError(f"--{loc.replace('_', '-')}: {err['msg']}") from None

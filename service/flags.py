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

# The flags whose form is not the one derived from their field (see `flags`).
_SPECIAL: dict[str, tuple[str, dict[str, Any]]] = {
    "models": (
        "--model",
        {
            "action": "append",
            "metavar": "[NAME=]ARTIFACT",
            "help": "model to serve (repeatable); the first is the default",
        },
    ),
    "admin_token": (
        "--admin-token",
        {
            "metavar": "TOKEN",
            "help": "enables the model repository API (POST /v2/repository/...) for "
            "'Authorization: Bearer TOKEN'; off when unset [env ROBE_ADMIN_TOKEN]",
        },
    ),
}


def flags() -> dict[str, tuple[str, dict[str, Any]]]:
    """flag -> (Settings field, argparse keyword arguments), one per field, in field order.

    `max_batch_rows` is `--max-batch-rows`; a bool is `--x/--no-x`; an int or a float is
    parsed as one; anything else (strings, choices) is passed as text for Settings to
    validate, so a bad value gets the same one-line error from a flag or from ROBE_*.
    """
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for field, info in Settings.model_fields.items():
        if field in _SPECIAL:
            flag, kwargs = _SPECIAL[field]
        elif info.annotation is bool:
            flag, kwargs = _flag(field), {"action": argparse.BooleanOptionalAction}
        elif info.annotation in (int, float):
            flag, kwargs = _flag(field), {"type": info.annotation}
        else:
            flag, kwargs = _flag(field), {}
        out[flag] = (field, kwargs)
    return out


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Mount every flag on `parser`; an absent flag is None (the environment decides)."""
    for flag, (field, kwargs) in flags().items():
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

    given = {field: values[field] for field, _ in flags().values() if values.get(field) is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise RobeError(f"--{loc.replace('_', '-')}: {err['msg']}") from None

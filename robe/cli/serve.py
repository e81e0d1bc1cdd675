"""`robe serve`: every flag is a field of service.settings.Settings (env ROBE_*)."""

from __future__ import annotations

import argparse
import contextlib
import logging
from typing import Any, get_args

from robe.errors import RobeError

# flag -> (Settings field, argparse keyword arguments)
_FLAGS: dict[str, tuple[str, dict[str, Any]]] = {
    "--model": (
        "models",
        {
            "action": "append",
            "metavar": "[NAME=]ARTIFACT",
            "help": "model to serve (repeatable); the first is the default",
        },
    ),
    "--backend": ("backend", {"help": "runtime: auto, onnx, torchscript, aoti, eager"}),
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
    "--admit-share": ("admit_share", {"type": float}),
    "--max-request-rows": ("max_request_rows", {"type": int}),
    "--max-body-bytes": ("max_body_bytes", {"type": int}),
    "--max-k": ("max_k", {"type": int}),
    "--warmup": ("warmup", {"action": argparse.BooleanOptionalAction}),
    "--threads": ("threads", {"type": int}),
    "--drain-s": ("drain_s", {"type": float}),
    "--admin-token": ("admin_token", {"metavar": "TOKEN"}),
    "--floor-endpoint": ("floor_endpoint", {"action": argparse.BooleanOptionalAction}),
    "--log-level": ("log_level", {}),
}


def register(sub: Any) -> None:
    serve = sub.add_parser("serve", help="serve models over HTTP (FastAPI, dynamic batching)")
    for flag, (field, kwargs) in _FLAGS.items():
        kwargs = dict(kwargs)
        kwargs.setdefault("help", _help(field))
        serve.add_argument(flag, dest=field, default=None, **kwargs)
    serve.set_defaults(handler=run_serve)


def _help(field: str) -> str:
    from service.settings import Settings

    info = Settings.model_fields[field]
    choices = get_args(info.annotation)
    text = info.description or field.replace("_", " ")
    if choices:
        text += f" ({', '.join(map(str, choices))})"
    return f"{text} [env ROBE_{field.upper()}, default {info.default!r}]"


def settings_from_args(args: argparse.Namespace) -> Any:
    """Settings from the environment, overridden by the flags that were given."""
    from pydantic import ValidationError

    from service.settings import Settings

    given = {
        field: getattr(args, field)
        for field, _ in _FLAGS.values()
        if getattr(args, field, None) is not None
    }
    try:
        return Settings(**given)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise RobeError(f"--{loc.replace('_', '-')}: {err['msg']}") from None


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.app import build_app
    from service.drain import DrainingServer, mark_draining
    from service.errors import ModelLoadError
    from service.models import check_model

    settings = settings_from_args(args)
    if not settings.models:
        raise RobeError("give at least one --model ARTIFACT (or set ROBE_MODELS)")
    for name, path in settings.model_paths():  # a damaged artifact: one line, no port bound
        try:
            check_model(name, path)
        except ModelLoadError as exc:
            raise RobeError(str(exc)) from None
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = build_app(settings)
    # A model that cannot load is one line (raised below), not uvicorn's traceback of it.
    logging.getLogger("uvicorn.error").addFilter(_HideLoadTraceback())
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=30,
    )
    server = DrainingServer(config, settings.drain_s, on_drain=lambda: mark_draining(app))
    # uvicorn exits with code 3 when the lifespan startup fails; say why in one line
    with contextlib.suppress(SystemExit):
        server.run()
    if not server.started:
        error = getattr(app.state, "startup_error", None)
        raise RobeError(error or "the server did not start (see the log above)")
    return 0


class _HideLoadTraceback(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not (text.startswith("Traceback") and "ModelLoadError" in text)

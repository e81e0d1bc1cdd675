"""Run the service under uvicorn until it stops: what `robe serve` and `python -m service` do."""

from __future__ import annotations

import contextlib
import logging

from robe.errors import RobeError
from service.settings import Settings


def serve(settings: Settings) -> int:
    """Serve `settings.models` on `settings.host:port`; a model that cannot load is a RobeError."""
    import uvicorn

    from service.app import build_app
    from service.drain import DrainingServer, mark_draining
    from service.errors import ModelLoadError
    from service.models import check_model

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

"""`robe serve`: mounts the service's own flag table (service.flags) and runs it."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    from service.flags import add_arguments

    parser = sub.add_parser("serve", help="serve models over HTTP (FastAPI, dynamic batching)")
    add_arguments(parser)
    parser.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from service.flags import settings_from_flags
    from service.serve import serve

    return serve(settings_from_flags(vars(args)))

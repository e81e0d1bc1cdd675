"""`robe loadtest --overload MULTIPLES` and `--soak MINUTES`: one model, on a server we
start (`--serve NAME=ARTIFACT`, whose memory we can read) or one at `--url`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from loadtest.client import Target
from loadtest.discover import discover
from loadtest.overload import OverloadConfig, overload, with_deadline
from loadtest.runner import encode_calls
from loadtest.server import Server, ServerConfig
from loadtest.soak import SoakConfig, soak
from loadtest.traffic import Call, Traffic, TrafficConfig
from robe.errors import RobeError
from service.settings import split_model_arg

log = logging.getLogger("loadtest")
DISTINCT = 200  # distinct request bodies, cycled


def run_stress(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        server = None
        if args.url:
            url, model = args.url, args.model
        else:
            if len(args.serve) != 1:
                raise RobeError("--overload and --soak take one --serve NAME=ARTIFACT")
            try:
                name, path = split_model_arg(args.serve[0])
            except ValueError as exc:
                raise RobeError(f"--serve: {exc}") from None
            if not name or not Path(path).exists():
                raise RobeError(f"--serve {args.serve[0]!r}: use NAME=ARTIFACT (an existing one)")
            config = ServerConfig(
                name, Path(path), log=args.out / f"{name}.log", extra_args=tuple(args.server_arg)
            )
            server = stack.enter_context(Server(config))
            url, model = server.url, name
        features, items = discover(url, model, args.schema, args.catalog)
        target = Target.parse(url)
        if args.overload:
            traffic = Traffic(features, items, TrafficConfig(model=model), seed=args.seed)
            calls = [_whole_catalog(traffic, model) for _ in range(DISTINCT)]
            requests: list[tuple[str, bytes]] = [
                (c.endpoint, target.post(c.endpoint, with_deadline(c.encode(), args.deadline_ms)))
                for c in calls
            ]
            oc = OverloadConfig(
                multiples=args.overload,
                duration_s=args.duration or 20.0,
                deadline_ms=args.deadline_ms,
            )
            result = asyncio.run(overload(target, requests, oc))
            _write(args.out, "overload", result, _markdown_overload(result, url))
        else:
            traffic_config = TrafficConfig(
                candidate_sizes=args.candidates,
                candidate_weights=(0.3, 0.3, 0.2, 0.15, 0.05)
                if len(args.candidates) == 5
                else tuple(1.0 for _ in args.candidates),
                score_fraction=args.score_fraction,
                model=model,
            )
            traffic = Traffic(features, items, traffic_config, seed=args.seed)
            requests = encode_calls(target, traffic.calls(DISTINCT))
            rss = server.rss_bytes if server is not None else None
            result = asyncio.run(soak(target, requests, SoakConfig(minutes=args.soak), rss))
            from loadtest.soak import markdown

            _write(args.out, "soak", result, markdown(result, f"Soak: {model or url}"))
    return 0


def _whole_catalog(traffic: Traffic, model: str | None) -> Call:
    body: dict[str, Any] = {"user": traffic.user(traffic.user_rank()), "k": 10}
    if model is not None:
        body["model"] = model
    return Call("/recommend", body)


def _markdown_overload(result: dict[str, Any], url: str) -> str:
    from loadtest.overload import markdown

    return markdown(result, f"Overload: whole-catalog /recommend at {url}")


def _write(out: Path, stem: str, result: dict[str, Any], md: str) -> None:
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"{stem}.md").write_text(md)
    log.info("%s", md)
    log.info("written: %s", out / f"{stem}.md")

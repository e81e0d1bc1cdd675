"""`robe loadtest`: open-loop rate sweeps, against a running server or a server per model."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from robe.errors import RobeError


def _rates(text: str) -> tuple[float, ...]:
    try:
        rates = tuple(float(r) for r in text.split(",") if r.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"rates must be numbers like 50,100,200: {text!r}"
        ) from None
    if not rates or min(rates) <= 0:
        raise argparse.ArgumentTypeError(f"rates must be positive numbers: {text!r}")
    return rates


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 10,50,100: {text!r}") from None


def register(sub: Any) -> None:
    p = sub.add_parser(
        "loadtest",
        help="open-loop load test: constant arrival rates, exact latency percentiles",
        description="Sweep constant arrival rates; latency is measured from each request's "
        "scheduled send time. Writes OUT/report.json, OUT/report.md and PNG plots.",
    )
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8000")
    target.add_argument(
        "--serve",
        action="append",
        metavar="NAME=ARTIFACT",
        help="start a `robe serve` process for this model alone (memory and cold start are "
        "measured too); repeat to compare models, swept side by side taking turns",
    )
    p.add_argument("--model", help="with --url: the model to load (default: the server's default)")
    p.add_argument("--rates", type=_rates, help="requests/s, e.g. 50,100,200 (the sweep)")
    p.add_argument("--duration", type=float, help="seconds per rate and model (default 20)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--overload",
        type=_rates,
        metavar="MULTIPLES",
        help="instead of a sweep: measure capacity (closed loop), then open loops at these "
        "multiples of it, e.g. 2,4,16, with whole-catalog /recommend requests; goodput, "
        "shed fraction, accepted latency -> OUT/overload.{json,md}",
    )
    mode.add_argument(
        "--soak",
        type=float,
        metavar="MINUTES",
        help="instead of a sweep: an open loop at 70%% of the measured capacity for MINUTES; "
        "RSS growth, errors, p99 drift -> OUT/soak.{json,md}",
    )
    p.add_argument(
        "--deadline-ms",
        type=float,
        default=2000.0,
        help="with --overload: each request's timeout_ms",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="split each rate's duration into this many turns per model, alternating models",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--p99-target-ms", type=float, default=50.0)
    p.add_argument("--max-in-flight", type=int, default=256, help="past it requests are dropped")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    p.add_argument(
        "--warmup", type=float, default=2.0, help="unrecorded seconds at the lowest rate"
    )
    p.add_argument("--schema", type=Path, help="schema.json (default: ask the server)")
    p.add_argument("--catalog", type=Path, help="items.jsonl (default: ids from the server)")
    p.add_argument("--score-fraction", type=float, default=0.1, help="share of /score calls")
    p.add_argument(
        "--candidates",
        type=_ints,
        default=(10, 50, 100, 200, 500),
        help="candidate-list sizes of /recommend (drawn with weights 30,30,20,15,5 %%)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="with --serve: an extra `robe serve` argument (repeatable): --server-arg=--threads=2",
    )
    p.add_argument("--no-plots", action="store_true", help="report.json and report.md only")
    p.set_defaults(handler=run_loadtest)


def _candidate_weights(sizes: tuple[int, ...]) -> tuple[float, ...]:
    default = (0.3, 0.3, 0.2, 0.15, 0.05)
    return default if len(sizes) == len(default) else tuple(1.0 for _ in sizes)


def run_loadtest(args: argparse.Namespace) -> int:
    from loadtest import plots, report
    from loadtest.server import artifact_bytes
    from loadtest.sweep import SweepConfig, measure_served, measure_url
    from loadtest.traffic import TrafficConfig
    from service.settings import split_model_arg

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.overload or args.soak:
        from loadtest.stress import run_stress

        return run_stress(args)
    if args.rates is None or args.duration is None:
        raise RobeError("give --rates and --duration (or --overload / --soak)")
    for path in (args.schema, args.catalog):
        if path is not None and not path.is_file():
            raise RobeError(f"{path} does not exist")
    traffic = TrafficConfig(
        candidate_sizes=args.candidates,
        candidate_weights=_candidate_weights(args.candidates),
        score_fraction=args.score_fraction,
        model=args.model if args.url else None,
    )
    config = SweepConfig(
        rates=args.rates,
        duration_s=args.duration,
        rounds=args.rounds,
        p99_target_ms=args.p99_target_ms,
        max_in_flight=args.max_in_flight,
        timeout_s=args.timeout,
        warmup_s=args.warmup,
        seed=args.seed,
        traffic=traffic,
        schema=args.schema,
        catalog=args.catalog,
    )
    if args.url:
        runs = [measure_url(args.url, args.model, config)]
    else:
        models = []
        for entry in args.serve:
            try:
                name, path = split_model_arg(entry)
            except ValueError as exc:
                raise RobeError(f"--serve {entry!r}: {exc}") from None
            if not name:
                raise RobeError(f"--serve {entry!r}: use NAME=ARTIFACT")
            if not Path(path).exists():
                raise RobeError(f"--serve {entry!r}: {path} does not exist")
            models.append((name, Path(path)))
        for name, path in models:
            logging.info("%s: %s (%.1f MB)", name, path, artifact_bytes(path) / 1e6)
        runs = measure_served(models, config, args.out / "logs", tuple(args.server_arg))
    result = report.build(runs, args.p99_target_ms, config.settings())
    report.write(result, args.out)
    if not args.no_plots:
        plots.write(result, args.out)
    for line in report.comparison(result):
        logging.info("%s", line)
    logging.info("report: %s", args.out / "report.md")
    return 0

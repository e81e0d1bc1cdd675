"""`robe bench service`: HTTP load on loopback against the served models."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from robe.errors import RobeError

DEFAULT_MODELS = ("robe=models/default/robe", "full=models/default/full")


def register(bench_sub: Any) -> None:
    """Add `robe bench service` to the `robe bench` subcommands."""
    service = bench_sub.add_parser(
        "service", help="HTTP load over loopback: batching on/off, runtimes, ceilings"
    )
    service.add_argument(
        "--model",
        action="append",
        dest="models",
        metavar="NAME=ARTIFACT",
        help=f"models to load (default: {', '.join(DEFAULT_MODELS)}, those that exist)",
    )
    service.add_argument(
        "--runtimes",
        default="onnx,torchscript",
        help="comma-separated backends (onnx, torchscript, aoti, eager)",
    )
    service.add_argument("--candidates", type=int, default=100, help="candidates per request")
    service.add_argument("--seconds", type=float, default=3.0, help="measured seconds per case")
    service.add_argument("--concurrency", default="1,16,64", help="comma-separated levels")
    service.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="runs per configuration; the median round is kept (shared machines)",
    )
    service.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    service.add_argument("--max-batch-rows", type=int, default=256)
    service.add_argument("--max-wait-ms", type=float, default=0.0)
    service.add_argument(
        "--readme",
        type=Path,
        default=Path("bench/README.md"),
        help="markdown file whose service table is rewritten",
    )
    service.add_argument(
        "--no-readme", action="store_const", const=None, dest="readme", help="rewrite no table"
    )
    service.add_argument(
        "--peers",
        action="store_true",
        help="also load a bare FastAPI endpoint and Ray Serve (pip install '.[bench]') on "
        "the first model's ONNX file, beside robe serve",
    )
    service.add_argument("--out", type=Path, required=True, help="JSON results file")
    service.set_defaults(handler=run_service_bench)


def run_service_bench(args: argparse.Namespace) -> int:
    from loadtest.closed_loop import BenchConfig, run_bench
    from service.runtimes.base import cuda_available
    from service.settings import BACKENDS, split_model_arg

    entries = args.models or [m for m in DEFAULT_MODELS if Path(m.split("=", 1)[1]).exists()]
    if not entries:
        raise RobeError("no model: give --model NAME=ARTIFACT (or run `make run` first)")
    models = []
    for entry in entries:
        name, path = split_model_arg(entry)
        if not Path(path).exists():
            raise RobeError(f"--model {entry}: {path} does not exist")
        models.append((name or Path(path).name, path))
    if args.device not in ("cpu", "cuda"):
        raise RobeError(f"--device: {args.device!r} is not cpu or cuda")
    if args.device == "cuda" and not cuda_available():
        raise RobeError("--device cuda: no CUDA device here (torch and ONNX Runtime see none)")
    runtimes = [r for r in args.runtimes.split(",") if r]
    for r in runtimes:
        if r not in BACKENDS:
            raise RobeError(f"--runtimes: unknown runtime {r!r}")
    if args.peers:
        _check_peers(args.device, runtimes)
    cfg = BenchConfig(
        models=models,
        runtimes=runtimes,
        out=args.out,
        candidates=args.candidates,
        seconds=args.seconds,
        concurrency=tuple(int(c) for c in args.concurrency.split(",")),
        rounds=args.rounds,
        max_batch_rows=args.max_batch_rows,
        max_wait_ms=args.max_wait_ms,
        device=args.device,
        readme=args.readme,
        peers=args.peers,
        log=lambda line: print(line, flush=True),
    )
    result = run_bench(cfg)
    for name, check in result["checks"].items():
        print(f"{name}: limit {result['limit_rps'][name]:.0f} rps, {check}", flush=True)
    if "peers" in result:
        print(f"peers: {result['peers']['checks']}", flush=True)
    print(f"wrote {args.out}" + (f" and {args.readme}" if args.readme else ""))
    return 0


def _check_peers(device: str, runtimes: list[str]) -> None:
    """--peers compares on ONNX Runtime on the CPU, with Ray Serve installed."""
    import importlib.util

    if device != "cpu":
        raise RobeError("--peers: the peers run on the CPU; drop --device cuda")
    if "onnx" not in runtimes:
        raise RobeError("--peers: the peers run ONNX Runtime; add onnx to --runtimes")
    if importlib.util.find_spec("ray") is None:
        raise RobeError("--peers: Ray Serve is not installed; pip install -e '.[bench]'")

"""`robe bench lookup`, `model`, `table` (and `service`, from robe.cli.bench_service)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, TypeVar

from robe.cli import bench_service

C = TypeVar("C")


def _csv(kind: type = str) -> Any:
    def parse(text: str) -> tuple[Any, ...]:
        try:
            return tuple(kind(x) for x in text.split(",") if x)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a comma-separated list: {text!r}") from None

    return parse


def register(sub: Any) -> None:
    from robe.bench.names import EMBEDDINGS, EXTRA_IMPLS, ID_KINDS, IMPLS, PASSES, SHAPES

    bench = sub.add_parser("bench", help="benchmarks (results as JSON)")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True, metavar="WHAT")

    lookup = bench_sub.add_parser("lookup", help="ROBE lookups against plain tables")
    lookup.add_argument("--out", type=Path, required=True, help="result JSON file")
    lookup.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    lookup.add_argument("--shapes", type=_csv(), default=SHAPES, help=f"of {','.join(SHAPES)}")
    lookup.add_argument("--batches", type=_csv(int), default=(256, 4096, 16384))
    lookup.add_argument("--ids", type=_csv(), default=ID_KINDS, help=f"of {','.join(ID_KINDS)}")
    lookup.add_argument("--passes", type=_csv(), default=PASSES, help=f"of {','.join(PASSES)}")
    lookup.add_argument(
        "--impls",
        type=_csv(),
        default=IMPLS,
        help=f"of {','.join(IMPLS + EXTRA_IMPLS)} (default: all but {','.join(EXTRA_IMPLS)})",
    )
    lookup.add_argument("--repeats", type=int, default=10, help="timed calls per case (median)")
    lookup.add_argument("--warmup", type=int, default=2)
    lookup.add_argument(
        "--burst",
        type=int,
        default=5,
        help="timed calls per turn, after an untimed one (1: strict alternation, caches cold)",
    )
    lookup.add_argument(
        "--max-seconds-per-case",
        type=float,
        default=3.0,
        help="fewer repeats (at least 3) for an impl slower than this allows",
    )
    lookup.add_argument(
        "--compression",
        type=float,
        default=1000.0,
        help="plain-table bytes over ROBE array bytes (default 1000)",
    )
    lookup.add_argument(
        "--chunk",
        type=int,
        default=16,
        help="ROBE's Z, contiguous elements per hash (default 16; capped at the dim)",
    )
    lookup.add_argument(
        "--plain-budget-gb",
        type=float,
        default=3.0,
        help="cap plain tables to fit this many GiB (default 3: twice that, with FBGEMM's "
        "copy, fits beside other work on a 24 GiB machine)",
    )
    lookup.set_defaults(handler=run_lookup)

    model = bench_sub.add_parser("model", help="whole-DLRM forward rows/s per runtime")
    model.add_argument("--out", type=Path, required=True, help="result JSON file")
    model.add_argument("--device", default="cpu")
    model.add_argument("--batch", type=int, default=4096)
    model.add_argument("--compression", type=float, default=1000.0)
    model.add_argument("--embeddings", type=_csv(), default=EMBEDDINGS)
    model.add_argument(
        "--runtimes",
        type=_csv(),
        default=("eager", "compiled", "onnx", "torchscript", "aoti"),
        help="of eager,compiled,onnx,torchscript,aoti (default: all)",
    )
    model.add_argument("--repeats", type=int, default=10)
    model.add_argument(
        "--threads",
        type=int,
        default=0,
        help="threads of every runtime: torch's and ONNX Runtime's pools alike "
        "(default 0: torch's default, the cores)",
    )
    model.add_argument(
        "--presets", type=_csv(), default=("kaggle",), help="of kaggle,terabyte (default kaggle)"
    )
    model.add_argument(
        "--precisions",
        type=_csv(),
        default=("fp32",),
        help="of fp32,bf16,fp16,int8 (default fp32); one a runtime lacks is a skipped case",
    )
    model.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="PRESET=RUN",
        help="a trained ROBE run for a preset: benchmarked in its place, and its validation "
        "rows give every variant's auc_delta (repeatable)",
    )
    model.add_argument(
        "--guard-rows", type=int, default=100_000, help="validation rows scored per variant"
    )
    model.set_defaults(handler=run_model)

    table = bench_sub.add_parser("table", help="print a result JSON as a markdown table")
    table.add_argument("results", type=Path, nargs="+", help="result JSON files")
    table.add_argument(
        "--update",
        type=Path,
        default=None,
        help="replace the text between the results markers of this file instead of printing",
    )
    table.set_defaults(handler=run_table)

    accuracy = bench_sub.add_parser(
        "accuracy", help="ROBE against plain tables, the hashing trick and simple baselines"
    )
    accuracy.add_argument("--data", type=Path, required=True, help="labelled data file or folder")
    accuracy.add_argument("--schema", help="schema name or file (default as robe train)")
    held = accuracy.add_mutually_exclusive_group()
    held.add_argument(
        "--val-fraction", type=float, default=0.1, help="last fraction of rows: the test rows"
    )
    held.add_argument("--val-rows", type=int, help="last N rows: the test rows")
    accuracy.add_argument(
        "--compressions", type=_csv(float), default=(10.0, 100.0, 1000.0), help="ROBE compressions"
    )
    accuracy.add_argument("--epochs", type=int, help="most epochs (default: robe train's)")
    accuracy.add_argument("--seed", type=int, default=0)
    accuracy.add_argument(
        "--out", type=Path, required=True, help="result JSON (the .md and .png beside it)"
    )
    accuracy.set_defaults(handler=run_accuracy)

    bench_service.register(bench_sub)


def _progress(case: dict[str, Any]) -> None:
    fields = {k: v for k, v in case.items() if not k.endswith("_bytes")}
    print(json.dumps(fields), file=sys.stderr, flush=True)


def _config(cls: type[C], args: argparse.Namespace, **given: Any) -> C:
    """A benchmark's config from the flags named like its fields (the rest: defaults)."""
    names = {f.name for f in dataclasses.fields(cls)} - set(given)  # type: ignore[arg-type]
    return cls(**{n: getattr(args, n) for n in names if hasattr(args, n)}, **given)


def _write(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")


def run_lookup(args: argparse.Namespace) -> int:
    from robe.bench.omp import wait_passively

    omp = wait_passively()  # before lookup.py imports torch
    from robe.bench.lookup import LookupBenchConfig, run

    config = _config(LookupBenchConfig, args, plain_budget_bytes=int(args.plain_budget_gb * 2**30))
    result = run(config, _progress)
    result["machine"]["omp"] = omp
    _write(args.out, result)
    return 0


def _named_paths(pairs: list[str], flag: str) -> tuple[tuple[str, Path], ...]:
    from service.settings import split_model_arg

    out = []
    for pair in pairs:
        name, path = split_model_arg(pair)
        if not name:
            raise ValueError(f"{flag} {pair!r}: expected NAME=PATH")
        out.append((name, Path(path)))
    return tuple(out)


def run_model(args: argparse.Namespace) -> int:
    from robe.bench.omp import wait_passively

    omp = wait_passively()  # before model_export.bench imports torch
    from model_export.bench import ModelBenchConfig, run

    config = _config(
        ModelBenchConfig, args, checkpoints=_named_paths(args.checkpoint, "--checkpoint")
    )
    result = run(config, _progress)
    result["machine"]["omp"] = omp
    _write(args.out, result)
    return 0


def run_accuracy(args: argparse.Namespace) -> int:
    from robe.bench.omp import wait_passively

    omp = wait_passively()  # before the trainers import torch: spinning threads stall them
    from robe.bench.accuracy import AccuracyConfig, run
    from robe.bench.accuracy_report import accuracy_figure, accuracy_table

    config = _config(AccuracyConfig, args)
    result = run(config, _progress)
    result["machine"]["omp"] = omp
    _write(args.out, result)
    table = accuracy_table(result)
    args.out.with_suffix(".md").write_text(table)
    accuracy_figure(result, args.out.with_suffix(".png"))
    print(table)
    return 0


def run_table(args: argparse.Namespace) -> int:
    from robe.bench.report import render, replace_between_markers

    parts = []
    for path in args.results:
        try:
            result = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not JSON: {exc}") from None
        parts.append(f"### {path.name}\n\n{render(result)}")
    text = "\n".join(parts)
    if args.update is None:
        print(text)
    else:
        args.update.write_text(replace_between_markers(args.update.read_text(), text))
    return 0

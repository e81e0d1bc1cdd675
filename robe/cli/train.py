"""`robe train` and `robe evaluate`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from robe.presets import PRESETS


def register(sub: Any) -> None:
    from robe.train import defaults

    train = sub.add_parser("train", help="train a DLRM with ROBE or plain embedding tables")
    train.add_argument(
        "--data", type=Path, required=True, help="TSV file (or .gz) or folder of shards"
    )
    train.add_argument("--embedding", choices=["robe", "full"], required=True)
    size = train.add_mutually_exclusive_group()
    size.add_argument(
        "--compression", type=float, help="ROBE: plain-table params / array params (default 1000)"
    )
    size.add_argument("--robe-size", type=int, metavar="BYTES", help="ROBE: array size in bytes")
    train.add_argument(
        "--chunk", type=int, default=16, help="ROBE: Z, contiguous elements per hash"
    )
    train.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="layer widths (default: kaggle / terabyte by schema, else small)",
    )
    train.add_argument(
        "--schema", help="schema name or file (default: DATA/schema.json, else criteo-kaggle)"
    )
    train.add_argument("--dim", type=int, help="embedding dimension (default: the schema's dim)")
    train.add_argument(
        "--epochs",
        type=int,
        default=defaults.DEFAULT_EPOCHS,
        help=f"most epochs (default {defaults.DEFAULT_EPOCHS}; the best one is kept)",
    )
    train.add_argument(
        "--patience",
        type=int,
        help="stop after N epochs without a better validation logloss; 0: never "
        f"(default {defaults.DEFAULT_PATIENCE})",
    )
    train.add_argument(
        "--batch-size",
        type=int,
        help=f"rows per step over all processes (default: up to {defaults.MAX_BATCH}, "
        f"fewer when an epoch would take under {defaults.STEPS_PER_EPOCH} steps)",
    )
    train.add_argument(
        "--lr", type=float, default=defaults.DEFAULT_LR, help="learning rate of the dense layers"
    )
    train.add_argument(
        "--embedding-lr",
        type=float,
        default=defaults.DEFAULT_EMBEDDING_LR,
        help="learning rate of the embeddings",
    )
    train.add_argument(
        "--weight-decay",
        type=float,
        default=defaults.DEFAULT_WEIGHT_DECAY,
        help="decoupled L2 of the dense layers",
    )
    train.add_argument(
        "--nproc",
        type=int,
        default=1,
        help="processes on this machine (data parallel, through torchrun; default 1)",
    )
    val = train.add_mutually_exclusive_group()
    val.add_argument(
        "--val-fraction", type=float, default=0.1, help="last fraction of rows held out"
    )
    val.add_argument("--val-rows", type=int, help="last N rows held out")
    val.add_argument("--val-data", type=Path, help="a separate validation file or folder")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--skip-bad-rows", action="store_true", help="count and skip malformed rows")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--out", type=Path, required=True, help="run directory to write")
    train.set_defaults(handler=run_train)

    ev = sub.add_parser(
        "evaluate", help="score a checkpoint on labelled data, print metrics as JSON"
    )
    ev.add_argument(
        "--checkpoint", type=Path, required=True, help="a run directory (RUN) or RUN/checkpoint"
    )
    ev.add_argument("--data", type=Path, required=True)
    ev.add_argument("--skip-bad-rows", action="store_true")
    ev.set_defaults(handler=run_evaluate)


def run_train(args: argparse.Namespace) -> int:
    if args.nproc != 1:
        from robe.train.launch import PLAIN_UNDER_DDP, launch

        if args.embedding == "full":
            raise ValueError(PLAIN_UNDER_DDP)

        return launch(args.nproc, sys.argv[1:])

    from robe.train.config import TrainConfig
    from robe.train.trainer import train

    config = TrainConfig(
        data=args.data,
        out=args.out,
        embedding=args.embedding,
        compression=args.compression,
        robe_size_bytes=args.robe_size,
        chunk=args.chunk,
        preset=args.preset,
        dim=args.dim,
        schema=args.schema,
        epochs=args.epochs,
        patience=args.patience,
        batch_size=args.batch_size,
        lr=args.lr,
        embedding_lr=args.embedding_lr,
        weight_decay=args.weight_decay,
        val_fraction=args.val_fraction,
        val_rows=args.val_rows,
        val_data=args.val_data,
        seed=args.seed,
        skip_bad_rows=args.skip_bad_rows,
        progress=not args.no_progress,
    )
    metrics = train(config)
    if metrics["world_size"] > 1 and int(os.environ.get("RANK", "0")) != 0:
        return 0  # rank 0 prints the run
    if metrics["skipped_rows"]:
        print(
            f"robe train: skipped {metrics['skipped_rows']} bad rows "
            f"(first: {metrics['skip_examples'][0]})",
            file=sys.stderr,
        )
    shown = {k: v for k, v in metrics.items() if k not in ("history", "skip_examples")}
    print(json.dumps(shown, indent=2))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from robe.checkpoint import load_checkpoint
    from robe.data.reader import read_rows
    from robe.data.skips import SkipReport
    from robe.train.evaluate import evaluate

    model, spec = load_checkpoint(args.checkpoint)
    skipped = SkipReport()
    rows = read_rows(args.data, spec.schema, skip_bad_rows=args.skip_bad_rows, report=skipped)
    if skipped.count:
        print(f"robe evaluate: {skipped.summary()}", file=sys.stderr)
    metrics: dict[str, Any] = dict(evaluate(model, rows))
    metrics["skipped_rows"] = skipped.count
    emb = spec.embedding
    metrics.update(
        embedding=emb.kind,
        embedding_params=emb.params,
        full_equivalent_params=emb.full_equivalent_params,
        compression=emb.compression,
    )
    json.dump(metrics, sys.stdout, indent=2)
    print()
    return 0

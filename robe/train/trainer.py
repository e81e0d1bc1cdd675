"""`robe train` end to end: read, split, build, fit (one process or a torchrun job), write."""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robe.checkpoint import ModelSpec, build_model, save_checkpoint
from robe.data.fit import fit_schema, held_rows
from robe.data.reader import read_rows, resolve_schema
from robe.data.rows import Rows
from robe.data.shards import list_shards
from robe.data.skips import SkipReport
from robe.embeddings import BYTES_PER_PARAM, EmbeddingConfig
from robe.errors import DataError
from robe.metrics import auc, logloss
from robe.model import DLRM, Preset, get_preset
from robe.schema import Schema
from robe.train.batches import RowTensors
from robe.train.cluster import Cluster, join, leave
from robe.train.config import TrainConfig
from robe.train.evaluate import predict
from robe.train.fit import fit
from robe.train.memory import check_fits
from robe.train.sizing import capacity_warnings, observed_cardinalities

DEFAULT_COMPRESSION = 1000.0
PRESET_FOR_SCHEMA = {"criteo-kaggle": "kaggle", "criteo-terabyte": "terabyte"}
Warn = Callable[[str], None]


def _stderr(message: str) -> None:
    print(f"robe train: warning: {message}", file=sys.stderr)


def with_dim(preset: Preset, dim: int) -> Preset:
    """The preset's layer widths with the dense arch ending at `dim` (the embedding width)."""
    if dim == preset.dim:
        return preset
    return replace(preset, name=f"{preset.name}-d{dim}", dim=dim, bottom=(*preset.bottom[:-1], dim))


def model_spec(config: TrainConfig, schema: Schema) -> ModelSpec:
    base = get_preset(config.preset or PRESET_FOR_SCHEMA.get(schema.name, "small"))
    # --dim decides; else the schema's dim, unless a preset was named (it carries its own).
    preset = with_dim(base, config.dim or (base.dim if config.preset else schema.dim))
    sizes = schema.table_sizes
    if config.embedding == "full":
        embedding = EmbeddingConfig("full", preset.dim, sizes)
    elif config.robe_size_bytes is not None:
        embedding = EmbeddingConfig(
            "robe",
            preset.dim,
            sizes,
            robe_size=config.robe_size_bytes // BYTES_PER_PARAM,
            chunk=min(config.chunk, preset.dim),
        )
    else:
        embedding = EmbeddingConfig.robe_for_compression(
            sizes, preset.dim, config.compression or DEFAULT_COMPRESSION, chunk=config.chunk
        )
    return ModelSpec(schema=schema, preset=preset, embedding=embedding)


def split(rows: Rows, config: TrainConfig) -> tuple[Rows, Rows]:
    """Hold out the chronologically last rows for validation."""
    n = len(rows)
    held = held_rows(n, config.val_rows, config.val_fraction)
    if not 0 < held < n:
        raise DataError(f"{config.data}: {n} rows cannot give {held} validation rows")
    return rows.take(slice(0, n - held)), rows.take(slice(n - held, n))


def _read(paths: list[Path], schema: Schema, config: TrainConfig, report: SkipReport) -> Rows:
    parts = [read_rows(p, schema, skip_bad_rows=config.skip_bad_rows, report=report) for p in paths]
    return parts[0] if len(parts) == 1 else Rows.concat(parts)


def _stride(rows: Rows, cluster: Cluster) -> Rows:
    if not cluster.distributed:
        return rows
    return rows.take(np.arange(cluster.rank, len(rows), cluster.world_size))


def load_rows(
    config: TrainConfig, schema: Schema, cluster: Cluster, report: SkipReport
) -> tuple[Rows, Rows, str]:
    """This rank's training rows, this rank's share of the validation rows, and how split.

    With a separate validation set and at least one shard per rank, each rank reads only
    its own shard files; otherwise every rank reads the data and keeps every
    `world_size`-th training row (the chronological validation split needs all rows).
    """
    shards = list_shards(config.data)
    if config.val_data is not None:
        val = _stride(_read(list_shards(config.val_data), schema, config, report), cluster)
        if cluster.distributed and len(shards) >= cluster.world_size:
            mine = shards[cluster.rank :: cluster.world_size]
            return _read(mine, schema, config, report), val, "shard files"
        return _stride(_read(shards, schema, config, report), cluster), val, "row stride"
    train_rows, val_rows = split(_read(shards, schema, config, report), config)
    return _stride(train_rows, cluster), _stride(val_rows, cluster), "row stride"


def validator(val_set: RowTensors, cluster: Cluster) -> Callable[[DLRM], dict[str, float]]:
    """Validation over every rank's share, the same figures on every rank."""
    labels = cluster.gather(val_set.labels.numpy())

    def validate(model: DLRM) -> dict[str, float]:
        scores = cluster.gather(predict(model, val_set))
        return {"auc": auc(labels, scores), "logloss": logloss(labels, scores)}

    return validate


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _bayes_auc(data: Path) -> float | None:
    stats = (data if data.is_dir() else data.parent) / "stats.json"
    if not stats.is_file():
        return None
    value = json.loads(stats.read_text()).get("bayes_auc")
    return float(value) if value is not None else None


def train(config: TrainConfig, warn: Warn = _stderr) -> dict[str, Any]:
    """Run training end to end; returns the metrics also written to OUT/metrics.json.

    Under torchrun every rank runs this; rank 0 alone writes the run directory.
    """
    cluster = join()
    try:
        return _train(config, cluster, warn)
    finally:
        leave(cluster)


def _train(config: TrainConfig, cluster: Cluster, warn: Warn) -> dict[str, Any]:
    schema = resolve_schema(config.data, config.schema)
    # Transform statistics (standardize, bucketize) from the training split only.
    schema = fit_schema(
        config.data,
        schema,
        held=0 if config.val_data is not None else config.val_rows,
        val_fraction=config.val_fraction,
        skip_bad_rows=config.skip_bad_rows,
    )
    spec = model_spec(config, schema)
    check_fits(
        spec.embedding, keep_best=config.epochs > 1
    )  # before reading gigabytes of data or allocating tables

    skipped = SkipReport()
    train_rows, val_rows, partition = load_rows(config, schema, cluster, skipped)
    if cluster.is_leader:
        for message in capacity_warnings(spec.embedding, observed_cardinalities(train_rows)):
            warn(message)
    train_set, val_set = RowTensors(train_rows), RowTensors(val_rows)

    torch.manual_seed(config.seed)
    model = build_model(spec)
    schedule = config.schedule_for(sum(cluster.gather_ints(len(train_set))))
    started = time.perf_counter()
    result = fit(
        model,
        train_set,
        validator(val_set, cluster),
        schedule,
        cluster=cluster,
        progress=config.progress,
        desc=f"train {spec.embedding.kind}",
    )
    train_seconds = time.perf_counter() - started
    rows_per_rank = cluster.gather_ints(len(train_set))
    rows_trained = sum(cluster.gather_ints(result.rows_trained))
    val_count = sum(cluster.gather_ints(len(val_set)))

    best = result.best
    emb = spec.embedding
    metrics: dict[str, Any] = {
        "auc": best["auc"],
        "logloss": best["logloss"],
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "stopped_early": result.stopped_early,
        "bayes_auc": _bayes_auc(config.data),
        "rows_trained": rows_trained,
        "train_rows": sum(rows_per_rank),
        "val_rows": val_count,
        "world_size": cluster.world_size,
        "rows_per_rank": rows_per_rank,
        "partition": partition,
        "epochs": schedule.epochs,
        "patience": schedule.patience,
        "batch_size": schedule.batch_size,
        "embedding": emb.kind,
        "preset": spec.preset.name,
        "dim": emb.dim,
        "schema": schema.name,
        "embedding_params": emb.params,
        "full_equivalent_params": emb.full_equivalent_params,
        "embedding_bytes": emb.params * BYTES_PER_PARAM,
        "full_equivalent_bytes": emb.full_equivalent_params * BYTES_PER_PARAM,
        "compression": emb.compression,
        "train_seconds": train_seconds,
        "rows_per_second": rows_trained / train_seconds,
        "peak_rss_bytes": _peak_rss_bytes(),
        "skipped_rows": skipped.count,
        "skip_examples": skipped.examples,
        "history": list(result.history),
        "data": str(config.data.resolve()),
        "seed": config.seed,
    }
    if cluster.is_leader:
        save_checkpoint(config.out / "checkpoint", model, spec)
        (config.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    cluster.barrier()
    return metrics

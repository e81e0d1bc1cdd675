"""`robe train`: read data, build the model, fit it, validate, write the run."""

from __future__ import annotations

import dataclasses
import json
import resource
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from robe.checkpoint import ModelSpec, build_model, save_checkpoint
from robe.data.fit import fit_schema, held_rows
from robe.data.reader import read_rows, resolve_schema
from robe.data.rows import Rows
from robe.data.skips import SkipReport
from robe.embeddings import BYTES_PER_PARAM, EmbeddingConfig
from robe.errors import DataError
from robe.model import DLRM, get_preset
from robe.schema import Schema
from robe.train.batches import RowTensors
from robe.train.config import TrainConfig
from robe.train.evaluate import evaluate
from robe.train.memory import check_fits

DEFAULT_COMPRESSION = 1000.0
PRESET_FOR_SCHEMA = {"criteo-kaggle": "kaggle", "criteo-terabyte": "terabyte"}


def model_spec(config: TrainConfig, schema: Schema) -> ModelSpec:
    preset = get_preset(config.preset or PRESET_FOR_SCHEMA.get(schema.name, "small"))
    if config.preset is None and preset.dim != schema.dim:
        # The schema's dim decides (the preset's bottom arch ends at it).
        preset = dataclasses.replace(
            preset,
            name=f"{preset.name}-d{schema.dim}",
            dim=schema.dim,
            bottom=(*preset.bottom[:-1], schema.dim),
        )
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


def _optimizers(model: DLRM, config: TrainConfig) -> list[torch.optim.Optimizer]:
    embedding_params = list(model.embeddings.parameters())
    ids = {id(p) for p in embedding_params}
    dense_params = [p for p in model.parameters() if id(p) not in ids]
    sparse_opt: torch.optim.Optimizer
    if model.embeddings.sparse_gradients:
        sparse_opt = torch.optim.SparseAdam(embedding_params, lr=config.embedding_lr)
    else:
        sparse_opt = torch.optim.Adam(embedding_params, lr=config.embedding_lr)
    return [torch.optim.Adam(dense_params, lr=config.lr), sparse_opt]


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _bayes_auc(data: Path) -> float | None:
    stats = (data if data.is_dir() else data.parent) / "stats.json"
    if not stats.is_file():
        return None
    value = json.loads(stats.read_text()).get("bayes_auc")
    return float(value) if value is not None else None


def train(config: TrainConfig) -> dict[str, Any]:
    """Run training end to end; returns the metrics also written to OUT/metrics.json."""
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
    check_fits(spec.embedding)  # before reading gigabytes of data or allocating tables

    skipped = SkipReport()
    rows = read_rows(config.data, schema, skip_bad_rows=config.skip_bad_rows, report=skipped)
    if config.val_data is not None:
        train_rows = rows
        val_rows = read_rows(
            config.val_data, schema, skip_bad_rows=config.skip_bad_rows, report=skipped
        )
    else:
        train_rows, val_rows = split(rows, config)
    train_set, val_set = RowTensors(train_rows), RowTensors(val_rows)

    torch.manual_seed(config.seed)
    model = build_model(spec)
    model.train()
    optimizers = _optimizers(model, config)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    generator = torch.Generator().manual_seed(config.seed)
    history: list[dict[str, float]] = []

    started = time.perf_counter()
    total = len(train_set) * config.epochs
    with tqdm(
        total=total,
        unit="rows",
        unit_scale=True,
        disable=not config.progress,
        desc=f"train {spec.embedding.kind}",
        smoothing=0.1,
    ) as bar:
        for epoch in range(config.epochs):
            for batch in train_set.shuffled(config.batch_size, generator):
                loss = loss_fn(model(batch.dense, batch.values, batch.offsets), batch.labels)
                for opt in optimizers:
                    opt.zero_grad(set_to_none=True)
                loss.backward()
                for opt in optimizers:
                    opt.step()
                bar.update(int(batch.labels.shape[0]))
                bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
            epoch_metrics = evaluate(model, val_set)
            history.append(
                {
                    "epoch": epoch + 1,
                    "auc": epoch_metrics["auc"],
                    "logloss": epoch_metrics["logloss"],
                }
            )
    train_seconds = time.perf_counter() - started

    final = history[-1]  # the last epoch's validation is the run's (epochs >= 1)
    emb = spec.embedding
    metrics: dict[str, Any] = {
        "auc": final["auc"],
        "logloss": final["logloss"],
        "bayes_auc": _bayes_auc(config.data),
        "rows_trained": total,
        "val_rows": len(val_set),
        "epochs": config.epochs,
        "embedding": emb.kind,
        "preset": spec.preset.name,
        "schema": schema.name,
        "embedding_params": emb.params,
        "full_equivalent_params": emb.full_equivalent_params,
        "embedding_bytes": emb.params * BYTES_PER_PARAM,
        "full_equivalent_bytes": emb.full_equivalent_params * BYTES_PER_PARAM,
        "compression": emb.compression,
        "train_seconds": train_seconds,
        "rows_per_second": total / train_seconds,
        "peak_rss_bytes": _peak_rss_bytes(),
        "skipped_rows": skipped.count,
        "skip_examples": skipped.examples,
        "history": history,
        "data": str(config.data.resolve()),
        "seed": config.seed,
    }
    save_checkpoint(config.out / "checkpoint", model, spec)
    (config.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics

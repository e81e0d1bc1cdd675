"""`robe bench accuracy`: ROBE-DLRM against the baselines on one chronological split.

The data is split once: the chronologically last rows are the test rows; of the rows
before them, the last `stop_fraction` decide early stopping (and the logistic model's
L2), so no case ever sees the test rows before it is scored. Every DLRM case trains
with the defaults of `robe train`; only the embeddings change:

- `robe` at each compression;
- `plain`: the schema's full tables (skipped, with the reason, when they do not fit);
- `hashing-trick`: plain tables each capped so that all of them together take the bytes
  of the ROBE array at that compression;
- `logistic`: logistic regression on hashed one-hot features (robe.baselines.logistic);
- `popularity`: the item's smoothed click rate, when the schema names an item key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import torch

from robe.baselines.logistic import LogisticConfig, fit_logistic, score_logistic
from robe.baselines.popularity import Popularity
from robe.bench.machine import describe
from robe.checkpoint import ModelSpec, build_model
from robe.data.reader import read_rows, resolve_schema
from robe.data.rows import Rows
from robe.embeddings import BYTES_PER_PARAM, EmbeddingConfig
from robe.errors import DataError
from robe.schema import BUILTIN_SCHEMAS, Schema
from robe.train.batches import RowTensors
from robe.train.cluster import Cluster
from robe.train.config import TrainConfig
from robe.train.defaults import DEFAULT_EPOCHS
from robe.train.evaluate import evaluate
from robe.train.fit import fit
from robe.train.memory import estimate
from robe.train.trainer import model_spec, validator

Progress = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class AccuracyConfig:
    data: Path
    schema: str | None = None
    val_fraction: float = 0.1  # test rows: the chronologically last
    val_rows: int | None = None  # overrides val_fraction
    compressions: tuple[float, ...] = (10.0, 100.0, 1000.0)
    epochs: int | None = None  # None: robe train's default
    stop_fraction: float = 0.1  # of the training rows, for early stopping
    memory_budget_bytes: int | None = None  # plain tables above this are skipped
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"--val-fraction must be in (0, 1), got {self.val_fraction}")
        if self.val_rows is not None and self.val_rows < 1:
            raise ValueError(f"--val-rows must be >= 1, got {self.val_rows}")
        if not self.compressions or min(self.compressions) < 1:
            raise ValueError("--compressions must list numbers >= 1")
        if not 0 < self.stop_fraction < 1:
            raise ValueError(f"stop fraction must be in (0, 1), got {self.stop_fraction}")


@dataclass(frozen=True)
class Split:
    fit: Rows  # trained on
    stop: Rows  # early stopping and model choice
    test: Rows  # scored once


def chronological_split(rows: Rows, config: AccuracyConfig) -> Split:
    n = len(rows)
    held = config.val_rows if config.val_rows is not None else round(n * config.val_fraction)
    train = n - held
    stop = round(train * config.stop_fraction)
    if held < 1 or stop < 1 or train - stop < 1:
        raise DataError(f"{config.data}: {n} rows are too few to split (test {held})")
    return Split(
        rows.take(slice(0, train - stop)),
        rows.take(slice(train - stop, train)),
        rows.take(slice(train, n)),
    )


def capped_sizes(sizes: tuple[int, ...], total_rows: int) -> tuple[int, ...]:
    """Each table capped at one common row count, the largest whose sum fits `total_rows`."""
    if sum(sizes) <= total_rows:
        return sizes
    low, high = 1, max(sizes)
    while low < high:
        mid = (low + high + 1) // 2
        if sum(min(s, mid) for s in sizes) <= total_rows:
            low = mid
        else:
            high = mid - 1
    return tuple(min(s, low) for s in sizes)


def _train_dlrm(spec: ModelSpec, split: Split, config: AccuracyConfig) -> dict[str, Any]:
    epochs = config.epochs or DEFAULT_EPOCHS
    train_config = TrainConfig(data=config.data, out=Path("."), epochs=epochs, seed=config.seed)
    schedule = train_config.schedule_for(len(split.fit))
    torch.manual_seed(config.seed)
    model = build_model(spec)
    started = time.perf_counter()
    result = fit(
        model,
        RowTensors(split.fit),
        validator(RowTensors(split.stop), Cluster()),
        schedule,
        progress=False,
    )
    seconds = time.perf_counter() - started
    scored = evaluate(model, split.test)
    return {
        "auc": scored["auc"],
        "logloss": scored["logloss"],
        "embedding_bytes": spec.embedding.params * BYTES_PER_PARAM,
        "train_seconds": seconds,
        "batch_size": schedule.batch_size,
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
    }


def _robe_spec(schema: Schema, compression: float) -> ModelSpec:
    return model_spec(TrainConfig(data=Path("."), out=Path("."), compression=compression), schema)


def _plain_spec(schema: Schema, sizes: tuple[int, ...] | None = None) -> ModelSpec:
    spec = model_spec(TrainConfig(data=Path("."), out=Path("."), embedding="full"), schema)
    if sizes is None:
        return spec
    capped = Schema(
        name=schema.name,
        dense=schema.dense,
        sparse=tuple(replace(f, size=s) for f, s in zip(schema.sparse, sizes, strict=True)),
        dim=schema.dim,
    )
    embedding = EmbeddingConfig("full", spec.embedding.dim, sizes)
    return ModelSpec(schema=capped, preset=spec.preset, embedding=embedding)


def _item_column(schema: Schema, rows: Rows) -> int | None:
    """The key column of the item id: the schema's `item_key` when it names one, else the
    single-valued item-side feature with the most distinct values (the id; features tied
    to it, such as a category, have fewer). None for the built-in Criteo schemas, whose
    sides are a convention over anonymous columns, and when no feature is item-side."""
    if schema.name in BUILTIN_SCHEMAS:
        return None
    widths = rows.widths or (1,) * rows.keys.shape[1]
    starts = np.cumsum((0, *widths))[:-1]
    named = getattr(schema, "item_key", None)
    candidates = [
        (int(np.unique(rows.keys[:, starts[t]]).size), t)
        for t, f in enumerate(schema.sparse)
        if widths[t] == 1 and (f.name == named if named else f.side == "item")
    ]
    return int(starts[max(candidates)[1]]) if candidates else None


def run(config: AccuracyConfig, progress: Progress) -> dict[str, Any]:
    schema = resolve_schema(config.data, config.schema)
    split = chronological_split(read_rows(config.data, schema), config)
    cases: list[dict[str, Any]] = []

    def add(case: dict[str, Any]) -> None:
        cases.append(case)
        progress(case)

    for compression in config.compressions:
        spec = _robe_spec(schema, compression)
        add({"model": "robe", "compression": compression, **_train_dlrm(spec, split, config)})
        rows = spec.embedding.robe_size // spec.embedding.dim
        capped = _plain_spec(schema, capped_sizes(schema.table_sizes, rows))
        add(
            {
                "model": "hashing-trick",
                "compression": compression,
                "max_table_rows": max(capped.embedding.table_sizes),
                **_train_dlrm(capped, split, config),
            }
        )

    plain = _plain_spec(schema)
    budget = config.memory_budget_bytes or psutil.virtual_memory().available // 2
    need = estimate(plain.embedding, keep_best=(config.epochs or DEFAULT_EPOCHS) > 1).total_bytes
    plain_bytes = plain.embedding.params * BYTES_PER_PARAM
    if need > budget:
        add(
            {
                "model": "plain",
                "compression": 1.0,
                "embedding_bytes": plain_bytes,
                "skipped": f"needs {need / 1e9:.1f} GB to train, budget {budget / 1e9:.1f} GB",
            }
        )
    else:
        add({"model": "plain", "compression": 1.0, **_train_dlrm(plain, split, config)})

    started = time.perf_counter()
    logistic_config = LogisticConfig(seed=config.seed)
    model = fit_logistic(split.fit, split.stop, logistic_config)
    seconds = time.perf_counter() - started
    add(
        {
            "model": "logistic",
            "compression": None,
            **score_logistic(model, split.test),
            "embedding_bytes": 2**logistic_config.bits * BYTES_PER_PARAM,
            "train_seconds": seconds,
            "l2": model.l2,
        }
    )

    column = _item_column(schema, split.fit)
    if column is None:
        skipped_popularity = "no item key: a built-in Criteo schema, or no item-side feature"
    else:
        started = time.perf_counter()
        popular = Popularity.fit(split.fit, column)
        add(
            {
                "model": "popularity",
                "compression": None,
                **popular.score(split.test, column),
                "embedding_bytes": int(popular.items.size) * BYTES_PER_PARAM,
                "train_seconds": time.perf_counter() - started,
            }
        )
        skipped_popularity = ""

    return {
        "benchmark": "accuracy",
        "data": str(config.data),
        "schema": schema.name,
        "rows": {"fit": len(split.fit), "stop": len(split.stop), "test": len(split.test)},
        "test_ctr": float(np.mean(split.test.labels)),
        "seed": config.seed,
        "popularity": skipped_popularity or "included",
        "machine": describe("cpu"),
        "cases": cases,
    }

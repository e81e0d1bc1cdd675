"""`robe data synth`: Criteo-format synthetic data with a planted click model.

Writes OUT/part-NNNNN.tsv[.gz], OUT/schema.json, OUT/items.jsonl (the item catalog)
and OUT/stats.json (with `bayes_auc`, the AUC of the true click probabilities). Every
file but stats.json (which records the run time) is a pure function of the config:
rows are made in fixed-size chunks, each from its own generator stream, so the
output does not depend on the shard count or on the machine.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from robe.catalog import CATALOG, CatalogItem, write_items
from robe.data.synth_params import STREAM_ROWS
from robe.data.synth_random import salt, token32
from robe.data.synth_world import Chunk, World
from robe.data.tsv_encode import encode_rows, hex_tokens
from robe.errors import RobeError
from robe.metrics import auc
from robe.schema import Schema

GENERATOR_VERSION = "robe-synth/1"
CHUNK_ROWS = 1 << 16
ROWS_PER_SHARD = 1_000_000
_P_TOKEN = 3
_OUR_FILES = re.compile(r"(part-\d{5}\.tsv(\.gz)?|schema\.json|items\.jsonl|stats\.json)")


@dataclass(frozen=True)
class SynthConfig:
    schema: Schema
    rows: int
    seed: int
    out: Path
    shards: int = 0  # 0: one per million rows, at least 1
    compress: bool = False  # gzip the shards
    users: int = 0  # 0: scale with rows
    items: int = 0  # 0: scale with rows

    def __post_init__(self) -> None:
        if self.rows <= 0:
            raise ValueError(f"--rows must be positive, got {self.rows}")
        if self.seed < 0:
            raise ValueError(f"--seed must be non-negative, got {self.seed}")
        if self.shards < 0:
            raise ValueError(f"--shards must be 0 (automatic) or positive, got {self.shards}")
        if self.shards > self.rows:
            raise ValueError(f"--shards {self.shards} is more than --rows {self.rows}")
        if self.users < 0:
            raise ValueError(f"--users must be 0 (automatic) or positive, got {self.users}")
        if self.items < 0:
            raise ValueError(f"--items must be 0 (automatic) or positive, got {self.items}")
        for f in self.schema.sparse:
            if f.size > 1 << 32:
                raise ValueError(
                    f"feature {f.name!r} has size {f.size}: more than 8-hex-digit tokens can hold"
                )

    @property
    def num_shards(self) -> int:
        return self.shards or max(1, math.ceil(self.rows / ROWS_PER_SHARD))

    @property
    def num_users(self) -> int:
        return self.users or min(max(1_000, self.rows // 20), 5_000_000)

    @property
    def num_items(self) -> int:
        return self.items or min(max(200, self.rows // 100), 50_000)


def synthesize(config: SynthConfig) -> dict[str, Any]:
    """Write the data set described by `config`; return (and write) its stats."""
    started = time.perf_counter()
    schema = config.schema
    try:
        _prepare_out(config.out)
        world = World(schema, config.seed, config.num_users, config.num_items)
        schema.save(config.out / "schema.json")
        _write_items(config, world)
        labels, probabilities = _write_shards(config, world)
    except OSError as exc:  # unwritable folder, disk full: a user-facing error
        where = exc.filename or config.out
        raise RobeError(f"cannot write {where}: {exc.strerror or exc}") from exc
    positives = int(labels.sum())
    stats: dict[str, Any] = {
        "generator": GENERATOR_VERSION,
        "schema": schema.name,
        "seed": config.seed,
        "rows": config.rows,
        "positives": positives,
        "ctr": positives / config.rows,
        "bayes_auc": _bayes_auc(labels, probabilities),
        "mean_probability": float(probabilities.mean()),
        "users": config.num_users,
        "items": config.num_items,
        "shards": config.num_shards,
        "compress": config.compress,
        "seconds": round(time.perf_counter() - started, 3),
    }
    (config.out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    return stats


def _bayes_auc(
    labels: npt.NDArray[np.uint8], probabilities: npt.NDArray[np.float64]
) -> float | None:
    if labels.min() == labels.max():
        return None  # one class only (tiny runs): AUC is undefined, and JSON has no NaN
    return auc(labels, probabilities)


def _prepare_out(out: Path) -> None:
    """Refuse to write into anything but a missing, empty or earlier synth folder."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} exists and is not a directory")
    if out.is_dir():
        entries = list(out.iterdir())
        strangers = [e.name for e in entries if not (_OUR_FILES.fullmatch(e.name) and e.is_file())]
        if strangers:
            raise ValueError(
                f"--out {str(out)!r} is a non-empty folder that synth did not write "
                f"(it holds {sorted(strangers)[0]!r}); choose a new or empty folder"
            )
        # A rerun may use fewer shards: old shards must not linger.
        for e in entries:
            e.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _tokens(config: SynthConfig, ranks: npt.NDArray[np.int64]) -> npt.NDArray[np.uint32]:
    """Per-feature bijective tokens of ranks [n, S] (missing ranks give junk, masked later)."""
    out = np.empty(ranks.shape, dtype=np.uint32)
    for col in range(ranks.shape[1]):
        out[:, col] = token32(salt(config.seed, _P_TOKEN, col), np.maximum(ranks[:, col], 0))
    return out


def _shard_path(config: SynthConfig, shard: int) -> Path:
    suffix = ".tsv.gz" if config.compress else ".tsv"
    return config.out / f"part-{shard:05d}{suffix}"


def _segments(config: SynthConfig) -> Iterator[tuple[int, int, int, int]]:
    """(chunk, first row in chunk, end row in chunk, shard) pieces, in file order."""
    shards = config.num_shards
    bounds = [k * config.rows // shards for k in range(shards + 1)]
    for shard in range(shards):
        row = bounds[shard]
        while row < bounds[shard + 1]:
            chunk = row // CHUNK_ROWS
            end = min(bounds[shard + 1], (chunk + 1) * CHUNK_ROWS)
            yield chunk, row - chunk * CHUNK_ROWS, end - chunk * CHUNK_ROWS, shard
            row = end


_Sink = io.BufferedWriter | gzip.GzipFile


class _ShardFiles:
    """Opens shards in order as rows reach them; one open file at a time."""

    def __init__(self, config: SynthConfig) -> None:
        self.config = config
        self.shard = -1
        self.handle: _Sink | None = None
        self.stack = ExitStack()

    def write(self, shard: int, data: bytes) -> None:
        handle = self.handle
        if handle is None or shard != self.shard:
            self.close()
            handle = self.handle = self._open(shard)
            self.shard = shard
        handle.write(data)

    def _open(self, shard: int) -> _Sink:
        path = _shard_path(self.config, shard)
        raw = self.stack.enter_context(path.open("wb"))
        if not self.config.compress:
            return raw
        # Empty name and mtime 0 in the gzip header keep the bytes reproducible.
        gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=1, mtime=0)
        return self.stack.enter_context(gz)

    def close(self) -> None:
        self.stack.close()
        self.handle = None


def _write_shards(
    config: SynthConfig, world: World
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float64]]:
    """Write every shard; return all labels and true probabilities (for the stats)."""
    labels = np.empty(config.rows, dtype=np.uint8)
    probabilities = np.empty(config.rows, dtype=np.float64)
    files = _ShardFiles(config)
    rows: Chunk | None = None
    try:
        for chunk, lo, hi, shard in _segments(config):
            base = chunk * CHUNK_ROWS
            if rows is None or rows.index != chunk:
                rows = world.rows(STREAM_ROWS, chunk, min(CHUNK_ROWS, config.rows - base))
            labels[base + lo : base + hi] = rows.labels[lo:hi]
            probabilities[base + lo : base + hi] = rows.probability[lo:hi]
            sparse = rows.sparse[lo:hi]
            data = encode_rows(
                rows.labels[lo:hi], rows.dense[lo:hi], _tokens(config, sparse), sparse >= 0
            )
            files.write(shard, data)
    finally:
        files.close()
    return labels, probabilities


def _write_items(config: SynthConfig, world: World) -> None:
    """items.jsonl: each item's id and its item-side feature values as they appear in rows."""
    schema = config.schema
    items = world.items
    full = np.zeros((len(items), schema.num_sparse), dtype=np.int64)
    full[:, world.item_sparse] = items.sparse
    hexes = hex_tokens(_tokens(config, full)[:, world.item_sparse])
    hex_text = [[h.tobytes().decode("ascii") for h in row] for row in hexes]
    dense_names = [schema.dense[j].name for j in world.item_dense]
    sparse_names = [schema.sparse[j].name for j in world.item_sparse]
    dense_values = items.dense.tolist()
    sparse_present = (items.sparse >= 0).tolist()

    def catalog() -> Iterator[CatalogItem]:
        for i in range(len(items)):
            features: dict[str, int | str | None] = {}
            for name, value in zip(dense_names, dense_values[i], strict=True):
                features[name] = value if value >= 0 else None
            for name, text, ok in zip(sparse_names, hex_text[i], sparse_present[i], strict=True):
                features[name] = text if ok else None
            yield CatalogItem(f"item-{i:06d}", features)

    write_items(config.out / CATALOG, catalog())

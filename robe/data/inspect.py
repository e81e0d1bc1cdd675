"""`robe data inspect`: rows, CTR, and per-feature missing rates and distinct counts.

Streams the data once. Distinct counts are exact: each chunk's unique keys per feature
are kept and merged now and then, which fits files of a few million rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from robe.data.reader import iter_parsed
from robe.data.shards import list_shards
from robe.data.skips import SkipReport
from robe.keys import MISSING_KEY, PAD_KEY
from robe.schema import Schema


@dataclass(frozen=True)
class DenseStats:
    name: str
    side: str
    missing: float  # fraction of rows
    mean: float | None  # of the present raw values; None when all are missing
    min: float | None
    max: float | None


@dataclass(frozen=True)
class SparseStats:
    name: str
    side: str
    distinct: int  # distinct present values
    missing: float  # fraction of rows


@dataclass(frozen=True)
class InspectReport:
    path: str
    schema: str
    files: int
    rows: int
    positives: int
    skipped: int
    skip_examples: tuple[str, ...]
    dense: tuple[DenseStats, ...]
    sparse: tuple[SparseStats, ...]

    @property
    def ctr(self) -> float:
        return self.positives / self.rows if self.rows else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["skip_examples"] = list(self.skip_examples)
        out["ctr"] = self.ctr
        return out

    def format(self) -> str:
        # The name column fits the longest feature name, so long custom names stay aligned.
        names = [d.name for d in self.dense] + [s.name for s in self.sparse]
        w = max([len(name) for name in names] + [6])
        lines = [
            f"path       {self.path} ({self.files} file{'s' if self.files != 1 else ''})",
            f"schema     {self.schema}",
            f"rows       {self.rows:,}",
            f"positives  {self.positives:,} (CTR {self.ctr:.4f})",
            f"skipped    {self.skipped:,} bad rows",
            "",
            f"{'dense':<{w}}  {'side':<8} {'missing':>8} {'mean':>12} {'min':>12} {'max':>12}",
        ]
        for d in self.dense:
            lines.append(
                f"{d.name:<{w}}  {d.side:<8} {d.missing:>8.1%} {_num(d.mean):>12} "
                f"{_num(d.min):>12} {_num(d.max):>12}"
            )
        lines += ["", f"{'sparse':<{w}}  {'side':<8} {'missing':>8} {'distinct':>12}"]
        for s in self.sparse:
            lines.append(f"{s.name:<{w}}  {s.side:<8} {s.missing:>8.1%} {s.distinct:>12,}")
        return "\n".join(lines)


def _add_bags(
    keys: npt.NDArray[np.int64],
    dense_raw: npt.NDArray[np.float64],
    schema: Schema,
    sparse_missing: npt.NDArray[np.int64],
    distinct: list[_DistinctKeys],
) -> None:
    """Missing and distinct counts of bags (several key columns) and of bucketized numbers
    (counted on their raw values: their buckets exist only once the training split is)."""
    start = 0
    raw_column = schema.num_dense
    for j, (feature, width) in enumerate(zip(schema.sparse, schema.key_widths, strict=True)):
        if feature.bucketize:
            numbers = dense_raw[:, raw_column]
            raw_column += 1
            present = ~np.isnan(numbers)
            sparse_missing[j] += int((~present).sum())
            distinct[j].add(np.unique(numbers[present]).view(np.int64))
        else:
            columns = keys[:, start : start + width]
            sparse_missing[j] += int((columns[:, 0] == MISSING_KEY).sum())
            distinct[j].add(np.unique(columns[columns != PAD_KEY]))
        start += width


def inspect_data(path: Path, schema: Schema, skip_bad_rows: bool = False) -> InspectReport:
    """Read all of `path` once and summarise it."""
    files = len(list_shards(path))
    report = SkipReport()
    rows = positives = 0
    dense_missing = np.zeros(schema.num_dense, dtype=np.int64)
    dense_sum = np.zeros(schema.num_dense, dtype=np.float64)
    dense_min = np.full(schema.num_dense, np.inf)
    dense_max = np.full(schema.num_dense, -np.inf)
    sparse_missing = np.zeros(schema.num_sparse, dtype=np.int64)
    distinct = [_DistinctKeys() for _ in schema.sparse]
    multi = any(w > 1 for w in schema.key_widths) or any(f.bucketize for f in schema.sparse)
    for block in iter_parsed(path, schema, skip_bad_rows=skip_bad_rows, report=report):
        rows += len(block.labels)
        positives += int(block.labels.sum())
        raw = block.dense_raw[:, : schema.num_dense]  # bucketized features' numbers follow
        missing = np.isnan(raw)
        dense_missing += missing.sum(axis=0)
        dense_sum += np.where(missing, 0.0, raw).sum(axis=0)
        dense_min = np.minimum(dense_min, np.where(missing, np.inf, raw).min(axis=0))
        dense_max = np.maximum(dense_max, np.where(missing, -np.inf, raw).max(axis=0))
        if multi:
            _add_bags(block.keys, block.dense_raw, schema, sparse_missing, distinct)
            continue
        sparse_missing += (block.keys == MISSING_KEY).sum(axis=0)
        # One sort for all features (a row per feature) beats a np.unique per feature.
        ordered = np.sort(block.keys.T, axis=1)
        fresh = np.ones(ordered.shape, dtype=bool)
        fresh[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
        for j, seen in enumerate(distinct):
            seen.add(ordered[j][fresh[j]])
    present = rows - dense_missing
    dense = tuple(
        DenseStats(
            name=f.name,
            side=f.side,
            missing=_fraction(int(dense_missing[i]), rows),
            mean=float(dense_sum[i] / present[i]) if present[i] else None,
            min=float(dense_min[i]) if present[i] else None,
            max=float(dense_max[i]) if present[i] else None,
        )
        for i, f in enumerate(schema.dense)
    )
    sparse = tuple(
        SparseStats(f.name, f.side, distinct[j].count(), _fraction(int(sparse_missing[j]), rows))
        for j, f in enumerate(schema.sparse)
    )
    return InspectReport(
        path=str(path),
        schema=schema.name,
        files=files,
        rows=rows,
        positives=positives,
        skipped=report.count,
        skip_examples=tuple(report.examples),
        dense=dense,
        sparse=sparse,
    )


class _DistinctKeys:
    """An exact count of distinct present keys: unique keys per chunk, merged as they pile up."""

    def __init__(self) -> None:
        self._merged: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self._pending: list[npt.NDArray[np.int64]] = []
        self._pending_size = 0

    def add(self, unique: npt.NDArray[np.int64]) -> None:
        """Add one chunk's keys, already unique."""
        self._pending.append(unique)
        self._pending_size += len(unique)
        # Merging only once the pending keys outnumber the merged ones keeps the total
        # work O(n log n) rather than one full merge per chunk.
        if self._pending_size > max(len(self._merged), 1 << 20):
            self._merge()

    def count(self) -> int:
        self._merge()
        missing = np.searchsorted(self._merged, MISSING_KEY)
        has_missing = missing < len(self._merged) and self._merged[missing] == MISSING_KEY
        return len(self._merged) - int(has_missing)

    def _merge(self) -> None:
        if self._pending:
            self._merged = np.unique(np.concatenate([self._merged, *self._pending]))
            self._pending = []
            self._pending_size = 0


def _fraction(count: int, total: int) -> float:
    return count / total if total else 0.0


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.3f}" if abs(value) < 1e9 else f"{value:.4e}"

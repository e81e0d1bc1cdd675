"""What a lookup benchmark feeds the embeddings: shapes (tables, dim) and id batches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from robe.bench.names import ID_KINDS
from robe.schema import load_schema

BYTES_PER_PARAM = 4
# Scatters Zipf ranks over the table (a prime, so a bijection mod any table size it does
# not divide): hot ids spread like real ones instead of sharing a few cache lines.
# rank * _SCATTER < 2**26 * 2**32 stays inside int64.
_SCATTER = 2654435761


@dataclass(frozen=True)
class Shape:
    """A schema's tables, and the plain tables the benchmark can afford to allocate."""

    name: str
    dim: int
    table_sizes: tuple[int, ...]
    plain_sizes: tuple[int, ...]  # table_sizes, each capped at `cap` rows when capped

    @property
    def cap(self) -> int | None:
        capped = self.plain_sizes != self.table_sizes
        return max(self.plain_sizes) if capped else None

    @property
    def num_tables(self) -> int:
        return len(self.table_sizes)

    @property
    def full_bytes(self) -> int:
        return sum(self.table_sizes) * self.dim * BYTES_PER_PARAM

    @property
    def plain_bytes(self) -> int:
        return sum(self.plain_sizes) * self.dim * BYTES_PER_PARAM


def plan_shape(schema: str, plain_budget_bytes: int) -> Shape:
    """The schema's tables; plain tables capped at the largest per-table row count whose
    total fits `plain_budget_bytes` (the hashing trick folds the rest, as in MLPerf)."""
    spec = load_schema(schema)
    sizes = tuple(spec.table_sizes)
    row_bytes = spec.dim * BYTES_PER_PARAM
    if sum(sizes) * row_bytes <= plain_budget_bytes:
        return Shape(schema, spec.dim, sizes, sizes)
    lo, hi = 1, max(sizes)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sum(min(s, mid) for s in sizes) * row_bytes <= plain_budget_bytes:
            lo = mid
        else:
            hi = mid - 1
    return Shape(schema, spec.dim, sizes, tuple(min(s, lo) for s in sizes))


def make_ids(kind: str, batch: int, sizes: tuple[int, ...], seed: int) -> torch.Tensor:
    """[batch, tables] int64 ids in [0, size): uniform, or Zipf(1) over each table."""
    if kind not in ID_KINDS:
        raise ValueError(f"ids must be one of {ID_KINDS}, got {kind!r}")
    rng = np.random.default_rng(seed)
    size = np.asarray(sizes, dtype=np.int64)
    u = rng.random((batch, len(sizes)))
    if kind == "uniform":
        ids = np.minimum((u * size).astype(np.int64), size - 1)
    else:
        # P(rank < r) = log(r + 1) / log(size + 1): density ~ 1 / r, i.e. Zipf with s = 1.
        rank = np.minimum(np.floor((size + 1.0) ** u).astype(np.int64) - 1, size - 1)
        ids = rank * _SCATTER % size
    return torch.from_numpy(ids)

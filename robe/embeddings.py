"""Embedding collections: ROBE and plain tables behind one interface.

Both map a batch of bags (batch-major `values`/`offsets`, see robe.ops.reference) to
`[B, T, D]`, so every comparison in this project swaps one `EmbeddingConfig.kind`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

import robe.ops  # noqa: F401  (registers torch.ops.robe)
from robe.hashing import DEFAULT_SEED, HashParams, RobeLayout
from robe.ops import reference

EmbeddingKind = Literal["robe", "full"]
BYTES_PER_PARAM = 4  # float32 everywhere


@dataclass(frozen=True)
class EmbeddingConfig:
    """Everything needed to rebuild an embedding collection (saved with checkpoints)."""

    kind: EmbeddingKind
    dim: int
    table_sizes: tuple[int, ...]
    robe_size: int = 0  # ROBE array elements; 0 for plain tables
    chunk: int = 16  # Z: contiguous elements per hash
    hash_seed: int = DEFAULT_SEED

    def __post_init__(self) -> None:
        if self.kind not in ("robe", "full"):
            raise ValueError(f"embedding kind must be 'robe' or 'full', got {self.kind!r}")
        if not self.table_sizes:
            raise ValueError("an embedding collection needs at least one table")
        if self.kind == "robe":
            RobeLayout(self.robe_size, self.dim, self.chunk)  # validates

    @property
    def num_tables(self) -> int:
        return len(self.table_sizes)

    @property
    def full_equivalent_params(self) -> int:
        return sum(self.table_sizes) * self.dim

    @property
    def params(self) -> int:
        return self.robe_size if self.kind == "robe" else self.full_equivalent_params

    @property
    def compression(self) -> float:
        return self.full_equivalent_params / self.params

    @classmethod
    def robe_for_compression(
        cls,
        table_sizes: tuple[int, ...],
        dim: int,
        compression: float,
        chunk: int = 16,
        hash_seed: int = DEFAULT_SEED,
    ) -> EmbeddingConfig:
        """A ROBE config whose array is `compression` times smaller than the plain tables."""
        if not compression >= 1:
            raise ValueError(f"--compression must be >= 1, got {compression}")
        full = sum(table_sizes) * dim
        size = max(int(full // compression), chunk)
        return cls(
            "robe", dim, table_sizes, robe_size=size, chunk=min(chunk, dim), hash_seed=hash_seed
        )


class EmbeddingCollection(nn.Module, ABC):
    """`forward(values [N], offsets [B*T+1]) -> [B, T, D]`, summed bags."""

    config: EmbeddingConfig

    @property
    @abstractmethod
    def sparse_gradients(self) -> bool:
        """Whether the embedding parameters receive sparse gradients (choose the optimizer)."""

    @property
    def num_tables(self) -> int:
        return self.config.num_tables

    @property
    def dim(self) -> int:
        return self.config.dim

    @property
    def embedding_bytes(self) -> int:
        return self.config.params * BYTES_PER_PARAM

    @property
    def full_equivalent_bytes(self) -> int:
        return self.config.full_equivalent_params * BYTES_PER_PARAM


def _init_scale(dim: int) -> float:
    return 1.0 / math.sqrt(dim)


class RobeEmbeddingCollection(EmbeddingCollection):
    """All tables share one learned array `weight` [robe_size], addressed by ROBE-Z."""

    def __init__(self, config: EmbeddingConfig) -> None:
        super().__init__()
        if config.kind != "robe":
            raise ValueError(f"RobeEmbeddingCollection needs kind 'robe', got {config.kind!r}")
        self.config = config
        self.coeffs = HashParams.from_seed(
            config.dim // config.chunk, config.hash_seed
        ).coefficients
        scale = _init_scale(config.dim)
        self.weight = nn.Parameter(torch.empty(config.robe_size).uniform_(-scale, scale))

    @property
    def sparse_gradients(self) -> bool:
        return False

    def forward(self, values: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        c = self.config
        out = torch.ops.robe.lookup(
            self.weight, values, offsets, c.num_tables, c.dim, c.chunk, self.coeffs
        )
        return out.view(-1, c.num_tables, c.dim)


class FullEmbeddingCollection(EmbeddingCollection):
    """Plain tables (hashing trick: key mod table size), concatenated into one matrix."""

    sizes: torch.Tensor
    starts: torch.Tensor

    def __init__(self, config: EmbeddingConfig) -> None:
        super().__init__()
        if config.kind != "full":
            raise ValueError(f"FullEmbeddingCollection needs kind 'full', got {config.kind!r}")
        self.config = config
        sizes = torch.tensor(config.table_sizes, dtype=torch.int64)
        self.register_buffer("sizes", sizes, persistent=False)
        self.register_buffer("starts", torch.cumsum(sizes, 0) - sizes, persistent=False)
        scale = _init_scale(config.dim)
        rows = sum(config.table_sizes)
        self.weight = nn.Parameter(torch.empty(rows, config.dim).uniform_(-scale, scale))

    @property
    def sparse_gradients(self) -> bool:
        return True

    def rows(self, values: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Row of the concatenated matrix for every value, [N] int64."""
        tables = reference.bag_ids(offsets, values.numel()) % self.config.num_tables
        return torch.remainder(values, self.sizes[tables]) + self.starts[tables]

    def forward(self, values: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        out = F.embedding_bag(
            self.rows(values, offsets),
            self.weight,
            offsets,
            mode="sum",
            sparse=self.training,
            include_last_offset=True,
        )
        return out.view(-1, self.config.num_tables, self.config.dim)


def build_embeddings(config: EmbeddingConfig) -> EmbeddingCollection:
    if config.kind == "robe":
        return RobeEmbeddingCollection(config)
    return FullEmbeddingCollection(config)

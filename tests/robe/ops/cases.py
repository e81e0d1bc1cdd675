"""Bag layouts shared by the kernel tests: random ones and adversarial ones."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from robe.hashing import HashParams

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class Bags:
    values: torch.Tensor
    offsets: torch.Tensor
    num_tables: int


def adversarial() -> Bags:
    """0, negatives, int64 extremes, limb boundaries, repeats, empty bags (first and last)."""
    values = torch.tensor(
        [
            0,
            -1,
            INT64_MAX,
            INT64_MIN,
            5,
            5,
            5,
            2**21 - 1,
            2**21,
            2**42 - 1,
            2**42,
            -(2**42),
            INT64_MIN + 1,
            INT64_MAX - 1,
            7,
            7,
        ],
        dtype=torch.int64,
    )
    lengths = [0, 1, 1, 2, 3, 0, 0, 4, 1, 2, 1, 1, 0, 0, 0]  # 15 bags, 3 tables, 5 rows
    return Bags(values, _offsets(lengths), num_tables=3)


def random_bags(seed: int, rows: int, num_tables: int, max_len: int = 3) -> Bags:
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(0, max_len + 1, (rows * num_tables,), generator=gen)
    n = int(lengths.sum())
    values = torch.randint(INT64_MIN, INT64_MAX, (n,), generator=gen, dtype=torch.int64)
    return Bags(values, _offsets(lengths.tolist()), num_tables)


def one_value_per_bag(seed: int, rows: int, num_tables: int) -> Bags:
    """Criteo's layout (offsets = 0..N), the kernels' fast path; extremes up front."""
    gen = torch.Generator().manual_seed(seed)
    n = rows * num_tables
    values = torch.randint(INT64_MIN, INT64_MAX, (n,), generator=gen, dtype=torch.int64)
    values[:4] = torch.tensor([0, -1, INT64_MAX, INT64_MIN])
    return Bags(values, torch.arange(n + 1, dtype=torch.int64), num_tables)


def _offsets(lengths: list[int]) -> torch.Tensor:
    out = torch.zeros(len(lengths) + 1, dtype=torch.int64)
    out[1:] = torch.cumsum(torch.tensor(lengths, dtype=torch.int64), 0)
    return out


def coeffs(num_chunks: int, seed: int = 11) -> list[int]:
    """Hash coefficients for `num_chunks` chunks (five per chunk, docs/hashing.md)."""
    return HashParams.from_seed(num_chunks, seed).coefficients

"""ROBE-Z addressing, exactly as docs/hashing.md fixes it.

For a key `x` (int64, see robe.keys), table `t` and chunk `c`:

    l0 = x & (2**21 - 1); l1 = (x >> 21) & (2**21 - 1); l2 = (x >> 42) & (2**22 - 1)
    h  = (b[c] + a0[c]*l0 + a1[c]*l1 + a2[c]*l2 + a3[c]*t) mod P       P = 2**31 - 1
    slot = h mod (m - Z + 1)

Each chunk has its own coefficients, so the chunks of one value are hashed
independently. Element `c*Z + j` of the embedding is `M[slot + j]`. Every product is
below 2**53 and the sum below 2**56, so int64 (and float64) arithmetic is exact. This
module is numpy-only so that the torch-free serving path shares it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

PRIME = 2**31 - 1
LIMB_BITS = (21, 21, 22)
MAX_TABLES = 2**22
MAX_CHUNKS = 2**22
DEFAULT_SEED = 20220829  # the date of the ROBE paper's MLSys publication; any seed works

_MASK64 = 2**64 - 1


def splitmix64(state: int) -> tuple[int, int]:
    """One step of SplitMix64: (next state, output), both unsigned 64-bit."""
    state = (state + 0x9E3779B97F4A7C15) & _MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return state, z ^ (z >> 31)


COEFFS_PER_CHUNK = 5  # b, a0, a1, a2, a3


@dataclass(frozen=True)
class HashParams:
    """Per-chunk coefficients: row c is (b, a0, a1, a2, a3), 0 <= b < P, 1 <= a_i < P."""

    table: tuple[tuple[int, int, int, int, int], ...]
    seed: int

    def __post_init__(self) -> None:
        if not self.table:
            raise ValueError("hash parameters need at least one chunk")
        for row in self.table:
            b, *a = row
            if (
                len(row) != COEFFS_PER_CHUNK
                or not 0 <= b < PRIME
                or not all(1 <= x < PRIME for x in a)
            ):
                raise ValueError(f"hash coefficients {row} out of range for P = {PRIME}")

    @classmethod
    def from_seed(cls, num_chunks: int, seed: int = DEFAULT_SEED) -> HashParams:
        """Draw b, a0..a3 for chunk 0, then chunk 1, ... from one SplitMix64 stream."""
        if not 0 <= seed < 2**64:
            raise ValueError(f"hash seed {seed} must be in [0, 2**64)")
        if not 1 <= num_chunks <= MAX_CHUNKS:
            raise ValueError(f"num_chunks {num_chunks} must be in [1, {MAX_CHUNKS}]")
        state = seed
        rows = []
        for _ in range(num_chunks):
            state, out = splitmix64(state)
            row = [out % PRIME]
            for _ in range(COEFFS_PER_CHUNK - 1):
                state, out = splitmix64(state)
                row.append(1 + out % (PRIME - 1))
            rows.append((row[0], row[1], row[2], row[3], row[4]))
        return cls(table=tuple(rows), seed=seed)

    @property
    def num_chunks(self) -> int:
        return len(self.table)

    @property
    def coefficients(self) -> list[int]:
        """Row-major [b_0, a0_0, a1_0, a2_0, a3_0, b_1, ...]: what kernels receive."""
        return [x for row in self.table for x in row]


@dataclass(frozen=True)
class RobeLayout:
    """How embeddings of width `dim` are cut into chunks of `chunk` (Z) in an array of `size`."""

    size: int
    dim: int
    chunk: int

    def __post_init__(self) -> None:
        if self.chunk <= 0 or self.dim <= 0:
            raise ValueError(f"dim={self.dim} and chunk Z={self.chunk} must be positive")
        if self.dim % self.chunk:
            raise ValueError(f"chunk Z={self.chunk} must divide the embedding dim {self.dim}")
        if self.size < self.chunk:
            raise ValueError(
                f"ROBE array size {self.size} is smaller than the chunk Z={self.chunk}"
            )
        if self.slots > PRIME:
            raise ValueError(f"ROBE array size {self.size} exceeds the hash range 2**31-1 + Z")
        if self.num_chunks > MAX_CHUNKS:
            raise ValueError(f"{self.num_chunks} chunks exceed the limit {MAX_CHUNKS}")

    @property
    def num_chunks(self) -> int:
        return self.dim // self.chunk

    @property
    def slots(self) -> int:
        """Valid chunk starts: 0 .. size - Z."""
        return self.size - self.chunk + 1


def limbs(keys: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], ...]:
    """The three limbs (21, 21, 22 bits) of int64 keys, as non-negative int64."""
    keys = np.asarray(keys, dtype=np.int64)
    out = []
    shift = 0
    for bits in LIMB_BITS:
        out.append((keys >> shift) & ((1 << bits) - 1))
        shift += bits
    return tuple(out)


def slots_numpy(
    keys: npt.NDArray[np.int64],
    tables: npt.NDArray[np.int64],
    layout: RobeLayout,
    params: HashParams,
) -> npt.NDArray[np.int64]:
    """Chunk start slots, shape keys.shape + (num_chunks,); the numpy statement of the spec."""
    if params.num_chunks != layout.num_chunks:
        raise ValueError(f"{params.num_chunks} hash rows for {layout.num_chunks} chunks")
    tables = np.asarray(tables, dtype=np.int64)
    if tables.size and (tables.min() < 0 or tables.max() >= MAX_TABLES):
        raise ValueError(f"table ids must be in [0, {MAX_TABLES})")
    coef = np.array(params.table, dtype=np.int64)  # [chunks, 5]
    l0, l1, l2 = limbs(keys)
    t = np.broadcast_to(tables, l0.shape)
    h = (
        coef[:, 0]
        + coef[:, 1] * l0[..., None]
        + coef[:, 2] * l1[..., None]
        + coef[:, 3] * l2[..., None]
        + coef[:, 4] * t[..., None]
    ) % PRIME
    return h % layout.slots

"""ROBE-Z addressing, exactly as docs/hashing.md fixes it.

For a key `x` (int64, see robe.keys), table `t` and chunk `c`:

    l0 = x & (2**21 - 1); l1 = (x >> 21) & (2**21 - 1); l2 = (x >> 42) & (2**22 - 1)
    h  = (b + a0*l0 + a1*l1 + a2*l2 + a3*t + a4*c) mod P          P = 2**31 - 1
    slot = h mod (m - Z + 1)

and element `c*Z + j` of the embedding is `M[slot + j]`. Every product is below 2**53
and the sum below 2**56, so int64 (and even float64) arithmetic is exact. This module
is numpy-only so that the torch-free serving path shares it.
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


@dataclass(frozen=True)
class HashParams:
    """The coefficients of the universal hash; (b, a0..a4) with 1 <= a_i < P, 0 <= b < P."""

    b: int
    a: tuple[int, int, int, int, int]
    seed: int

    def __post_init__(self) -> None:
        if not 0 <= self.b < PRIME:
            raise ValueError(f"hash offset b={self.b} must be in [0, {PRIME})")
        if len(self.a) != 5 or not all(1 <= a < PRIME for a in self.a):
            raise ValueError(f"hash multipliers {self.a} must be five integers in [1, {PRIME})")

    @classmethod
    def from_seed(cls, seed: int = DEFAULT_SEED) -> HashParams:
        """Draw b then a0..a4 from SplitMix64 seeded with `seed` (docs/hashing.md)."""
        if not 0 <= seed < 2**64:
            raise ValueError(f"hash seed {seed} must be in [0, 2**64)")
        state, out = splitmix64(seed)
        b = out % PRIME
        coeffs = []
        for _ in range(5):
            state, out = splitmix64(state)
            coeffs.append(1 + out % (PRIME - 1))
        return cls(b=b, a=(coeffs[0], coeffs[1], coeffs[2], coeffs[3], coeffs[4]), seed=seed)

    @property
    def coefficients(self) -> list[int]:
        """[b, a0, a1, a2, a3, a4]: the order kernels and exported graphs receive them in."""
        return [self.b, *self.a]


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
            raise ValueError(f"ROBE array size {self.size} is smaller than the chunk Z={self.chunk}")
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
    tables = np.asarray(tables, dtype=np.int64)
    if tables.size and (tables.min() < 0 or tables.max() >= MAX_TABLES):
        raise ValueError(f"table ids must be in [0, {MAX_TABLES})")
    b, a0, a1, a2, a3, a4 = params.coefficients
    l0, l1, l2 = limbs(keys)
    base = b + a0 * l0 + a1 * l1 + a2 * l2 + a3 * np.broadcast_to(tables, l0.shape)
    chunks = np.arange(layout.num_chunks, dtype=np.int64) * a4
    h = (base[..., None] + chunks) % PRIME
    return h % layout.slots

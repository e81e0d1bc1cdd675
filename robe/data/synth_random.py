"""Counter-based randomness for the synthetic generator: hashes, Zipf draws, tokens.

The planted click model must give the same effect to a value wherever it appears
(in any chunk, for any user) without a table the size of the feature's cardinality
(40M for Criteo Terabyte). So per-value quantities are pure functions of
(seed, purpose, feature, rank), computed by hashing, and only draws of *which*
value a row or user gets use a sequential generator.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_MASK64 = (1 << 64) - 1
_MASK32 = np.uint64(0xFFFFFFFF)
_TWO_PI = 2.0 * np.pi

U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def _splitmix(x: int) -> int:
    """splitmix64 finaliser on a Python int (for salts; arrays use `mix64`)."""
    z = (x + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def salt(*parts: int) -> int:
    """A 64-bit salt from a tuple of small non-negative integers (seed, purpose, ...)."""
    h = 0x243F6A8885A308D3
    for p in parts:
        h = _splitmix(h ^ (p & _MASK64))
    return h


def mix64(x: U64) -> U64:
    """splitmix64 finaliser, elementwise; uint64 array arithmetic wraps by design."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def hashed_gaussian(key: int, ranks: I64) -> F64:
    """A standard normal per rank, fixed by `key` (Box-Muller on one 64-bit hash)."""
    h = mix64(ranks.astype(np.uint64) ^ np.uint64(key))
    u1 = ((h >> np.uint64(32)).astype(np.float64) + 0.5) / 2.0**32
    u2 = ((h & _MASK32).astype(np.float64) + 0.5) / 2.0**32
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(_TWO_PI * u2)


def token32(key: int, ranks: I64) -> npt.NDArray[np.uint32]:
    """Ranks in [0, 2**32) to 32-bit tokens by a bijection (xor, then murmur3's fmix32).

    Bijective so that distinct values stay distinct; mixed so tokens look random.
    """
    x = (ranks.astype(np.uint64) ^ np.uint64(key & 0xFFFFFFFF)) & _MASK32
    x = ((x ^ (x >> np.uint64(16))) * np.uint64(0x85EBCA6B)) & _MASK32
    x = ((x ^ (x >> np.uint64(13))) * np.uint64(0xC2B2AE35)) & _MASK32
    x = x ^ (x >> np.uint64(16))
    return x.astype(np.uint32)


def zipf_ranks(
    rng: np.random.Generator, count: int, size: int, exponent: float, offset: float = 0.0
) -> I64:
    """`count` draws of ranks in [0, size) with P(r) roughly proportional to (r+1+offset)^-s.

    Inverse CDF of the continuous bounded power law, floored: O(count) time and
    memory whatever `size` is. `offset` flattens the head (Zipf-Mandelbrot).
    """
    if exponent == 1.0:
        raise ValueError("zipf_ranks: exponent 1.0 is not supported (use 1 +/- epsilon)")
    a = 1.0 + offset
    b = float(size) + 1.0 + offset
    e = 1.0 - exponent
    lo, hi = a**e, b**e
    u = rng.random(count)
    x: F64 = (lo + u * (hi - lo)) ** (1.0 / e)
    ranks: I64 = np.clip(np.floor(x - a), 0, size - 1).astype(np.int64)
    return ranks


def rank_decay(ranks: I64, scale: float) -> F64:
    """Effect amplitude by rank: 1 at the head, (rank / scale)^-1/2 in the tail.

    Planted effects concentrate on frequent values, so a model trained on a
    realistic number of rows can learn most of the signal.
    """
    return 1.0 / np.sqrt(1.0 + ranks.astype(np.float64) / scale)

"""Vectorised Criteo TSV encoding: label, dense counts, 8-hex-digit tokens per line.

Each row is laid out in a fixed-width byte matrix, one slot per field, padded with
NUL bytes; dropping the NULs leaves the variable-width lines. No per-row Python.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_NIBBLE_SHIFTS = np.arange(28, -1, -4, dtype=np.uint32)
_TAB, _NEWLINE, _ZERO = 9, 10, 48

U8 = npt.NDArray[np.uint8]


def hex_tokens(tokens: npt.NDArray[np.uint32]) -> U8:
    """Tokens (any shape) to their 8 lower-case hex digits: shape + (8,)."""
    nibbles: npt.NDArray[np.uint32] = (tokens[..., None] >> _NIBBLE_SHIFTS) & np.uint32(0xF)
    out: U8 = _HEX[nibbles]
    return out


def decimal_digits(counts: npt.NDArray[np.int64], width: int) -> U8:
    """Non-negative counts to right-aligned ASCII digits, NUL-padded; -1 (missing) all NUL."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    x = np.maximum(counts, 0)[..., None]
    digits = ((x // powers) % 10 + _ZERO).astype(np.uint8)
    leading = (powers > x) & (powers > 1)
    digits[leading | (counts < 0)[..., None]] = 0
    return digits


def encode_rows(
    labels: U8,
    dense: npt.NDArray[np.int64],
    tokens: npt.NDArray[np.uint32],
    present: npt.NDArray[np.bool_],
) -> bytes:
    """TSV bytes for n rows: labels [n] in {0,1}, dense [n, D] (-1 missing), tokens [n, S]
    with `present` [n, S] (False = empty field)."""
    n, d = dense.shape
    s = tokens.shape[1]
    top = int(dense.max(initial=0))
    width = len(str(top))
    line = 2 + d * (width + 1) + s * 9  # label+tab, dense slots+tabs, token slots+tabs
    grid = np.zeros((n, line), dtype=np.uint8)
    grid[:, 0] = labels + _ZERO
    grid[:, 1] = _TAB
    if d:
        block = grid[:, 2 : 2 + d * (width + 1)].reshape(n, d, width + 1)
        block[:, :, :width] = decimal_digits(dense, width)
        block[:, :, width] = _TAB
    start = 2 + d * (width + 1)
    block = grid[:, start:].reshape(n, s, 9)
    block[:, :, :8] = hex_tokens(tokens)
    block[:, :, :8] *= present[..., None]
    block[:, :, 8] = _TAB
    grid[:, -1] = _NEWLINE
    return bytes(grid[grid != 0].tobytes())

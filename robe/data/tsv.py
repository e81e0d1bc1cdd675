"""The vectorised parser of one block of Criteo TSV lines (numpy on raw bytes).

A block is a `bytes` of whole lines, each ending in LF. Field boundaries come from one
scan for tabs and newlines; labels, dense integers and 8-hex-digit tokens are decoded
column-wise with a short loop over character positions, never over fields. The rare
field that is not on the fast path (a dense value that is not a plain integer, a token
that is not 8 hex digits) is handled one by one. Problems are returned as
(line index in the block, reason) pairs, so the caller decides to raise or to skip.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from robe.keys import _NIBBLE, MISSING_KEY
from robe.schema import Schema

_TAB, _LF, _MINUS, _ZERO, _ONE = 9, 10, ord("-"), ord("0"), ord("1")
# Integers of up to 18 characters fit int64 on the fast path; longer ones take the slow one.
_MAX_FAST_DIGITS = 18
# Zero bytes after the block so gathers past a short field's end stay inside the array.
_PAD = 32
_DECIMAL = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


@dataclass(frozen=True)
class ParsedBlock:
    """The good lines of a block: raw dense values (NaN = missing) and keys."""

    labels: npt.NDArray[np.float32]  # [n]
    dense_raw: npt.NDArray[np.float64]  # [n, F], NaN where missing
    keys: npt.NDArray[np.int64]  # [n, T]


@dataclass(frozen=True)
class BadLine:
    index: int  # 0-based line in the block
    reason: str


def parse_block(block: bytes, schema: Schema) -> tuple[ParsedBlock, list[BadLine]]:
    """Parse whole LF-terminated lines; returns the good rows and the bad lines, in order."""
    if block and block[-1] != _LF:
        raise ValueError("parse_block needs whole lines ending in a newline")
    if b"\r" in block:
        # CRLF files read like LF ones; dropping the CR before each LF keeps line numbers.
        block = block.replace(b"\r\n", b"\n")
    size = len(block)
    buf = np.zeros(size + _PAD, dtype=np.uint8)
    buf[:size] = np.frombuffer(block, dtype=np.uint8)
    body = buf[:size]
    is_lf = body == _LF
    newlines = np.flatnonzero(is_lf)
    separators = np.flatnonzero(is_lf | (body == _TAB))
    columns = schema.num_columns
    # Each newline is a separator; its index among the separators counts fields per line.
    last_field = np.searchsorted(separators, newlines)
    counts = np.diff(last_field, prepend=-1)
    bad: dict[int, str] = {}
    line_starts = np.concatenate(([0], newlines[:-1] + 1))
    for i in np.flatnonzero(counts != columns):
        if newlines[i] == line_starts[i]:
            bad[int(i)] = "empty line"
        else:
            bad[int(i)] = f"expected {columns} fields, got {counts[i]}"
    good = np.flatnonzero(counts == columns)
    starts, lengths = _field_spans(separators, last_field[good], columns)
    num_dense = schema.num_dense

    label_ok = (lengths[:, 0] == 1) & ((buf[starts[:, 0]] == _ZERO) | (buf[starts[:, 0]] == _ONE))
    for cell in np.flatnonzero(~label_ok):
        value = _text(block, starts[cell, 0], lengths[cell, 0])
        bad.setdefault(int(good[cell]), f"label must be 0 or 1, got {value!r}")
    labels = (buf[starts[:, 0]] == _ONE).astype(np.float32)

    dense_raw, dense_bad = _parse_dense(
        block, buf, starts[:, 1 : 1 + num_dense], lengths[:, 1 : 1 + num_dense]
    )
    for row, col in dense_bad:
        value = _text(block, starts[row, 1 + col], lengths[row, 1 + col])
        name = schema.dense[col].name
        bad.setdefault(int(good[row]), f"{name}: not a number: {value!r}")

    keys = _parse_tokens(block, buf, starts[:, 1 + num_dense :], lengths[:, 1 + num_dense :])

    keep = ~np.isin(good, np.fromiter(bad, dtype=np.int64, count=len(bad)))
    parsed = ParsedBlock(
        labels=labels[keep],
        dense_raw=dense_raw[keep],
        keys=keys[keep],
    )
    return parsed, [BadLine(i, bad[i]) for i in sorted(bad)]


def _field_spans(
    separators: npt.NDArray[np.int64], line_ends: npt.NDArray[np.int64], columns: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Start and length of each field of the lines whose last separator is `line_ends`."""
    # The field before a separator starts just after the previous separator (or at 0).
    previous = np.empty_like(separators)
    previous[:1] = -1
    previous[1:] = separators[:-1]
    if len(line_ends) * columns == len(separators):
        # Every line is well formed: the separators already are a [rows, columns] grid.
        ends = separators.reshape(-1, columns)
        starts = previous.reshape(-1, columns) + 1
    else:
        cells = line_ends[:, None] + np.arange(1 - columns, 1)
        ends = separators[cells]
        starts = previous[cells] + 1
    return starts, ends - starts


def _parse_dense(
    block: bytes,
    buf: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    lengths: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.float64], list[tuple[int, int]]]:
    """Integers by Horner's rule over character positions; returns values and bad cells."""
    width = min(int(lengths.max(initial=0)), _MAX_FAST_DIGITS)
    chars = _windows(buf, width)[starts] if width else np.zeros((*starts.shape, 0), np.uint8)
    negative = (chars[..., 0] == _MINUS) & (lengths > 1) if width else lengths < 0
    value = np.zeros(starts.shape, dtype=np.int64)
    ok = lengths <= _MAX_FAST_DIGITS
    for pos in range(width):
        active = pos < lengths
        # uint8 arithmetic wraps, so anything but '0'..'9' lands above 9.
        digit = chars[..., pos] - np.uint8(_ZERO)
        is_digit = digit <= 9
        ok &= ~active | is_digit | ((pos == 0) & negative)
        step = active & is_digit
        value = np.where(step, value * 10 + digit, value)
    result = np.where(negative, -value, value).astype(np.float64)
    result[lengths == 0] = np.nan
    bad: list[tuple[int, int]] = []
    for row, col in zip(*np.nonzero(~ok), strict=True):
        parsed = _slow_number(_text(block, starts[row, col], lengths[row, col]))
        if parsed is None:
            bad.append((int(row), int(col)))
        else:
            result[row, col] = parsed
    return result, bad


def _slow_number(text: str) -> float | None:
    """A decimal number not on the fast path (long integer, fraction, exponent), or None."""
    if not _DECIMAL.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def _parse_tokens(
    block: bytes,
    buf: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    lengths: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """Keys per robe.keys: 8 hex digits decode here, empty is MISSING_KEY, others hash."""
    nibbles = _NIBBLE[_windows(buf, 8)[starts]]
    # A non-hex byte maps to 255, the only nibble value with its high bit set.
    high_bits = nibbles.view(np.uint64)[..., 0] & np.uint64(0x8080808080808080)
    hex_ok = (lengths == 8) & (high_bits == 0)
    # Two nibbles per byte, big-endian: the 4 bytes read as one unsigned 32-bit number.
    packed = (nibbles[..., 0::2] << 4) | (nibbles[..., 1::2] & 15)
    value = np.ascontiguousarray(packed).view(">u4")[..., 0].astype(np.int64)
    value[lengths == 0] = MISSING_KEY
    for row, col in zip(*np.nonzero(~hex_ok & (lengths > 0)), strict=True):
        raw = block[starts[row, col] : starts[row, col] + lengths[row, col]]
        value[row, col] = _bytes_key(raw)
    return value


def _bytes_key(raw: bytes) -> int:
    """string_key of the text these bytes encode; invalid UTF-8 hashes its bytes as they are."""
    digest = hashlib.blake2b(raw, digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def _windows(buf: npt.NDArray[np.uint8], width: int) -> npt.NDArray[np.uint8]:
    """A [len - width + 1, width] view: row i is buf[i : i + width], without copying."""
    return np.lib.stride_tricks.sliding_window_view(buf, width)


def _text(block: bytes, start: np.int64, length: np.int64) -> str:
    return block[int(start) : int(start) + int(length)].decode("utf-8", errors="replace")

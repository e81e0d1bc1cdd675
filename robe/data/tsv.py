"""The vectorised parser of one block of Criteo TSV lines (numpy on raw bytes).

A block is a `bytes` of whole lines, each ending in LF (or CRLF). Field boundaries come
from one scan for tabs and newlines; labels, dense integers and 8-hex-digit tokens are
decoded column-wise (`robe.data.tsv_fields`), never field by field. The rare field off
the fast path (a dense value that is not a short integer, a token that is not 8 hex
digits) is handled one by one. Problems come back as (line index in the block, reason)
pairs, so the caller decides to raise or to skip.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from robe.data.tsv_fields import decode_integers, decode_tokens
from robe.keys import MISSING_KEY, text_key
from robe.schema import Schema

_TAB, _LF, _ZERO, _ONE = 9, 10, ord("0"), ord("1")
# Zero bytes around the block, so 8- and 16-byte loads near its edges stay in the array.
_PAD = 32
_DECIMAL = re.compile(r"-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ParsedBlock:
    """The good lines of a block: raw numbers (NaN = missing) and keys."""

    labels: npt.NDArray[np.float32]  # [n]
    # [n, F + B]: dense features, then bucketized sparse features (robe.data.transform)
    dense_raw: npt.NDArray[np.float64]
    keys: I64  # [n, S], S = sum of the schema's key widths

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def take(self, rows: slice) -> ParsedBlock:
        return ParsedBlock(self.labels[rows], self.dense_raw[rows], self.keys[rows])

    @staticmethod
    def concat(parts: Sequence[ParsedBlock]) -> ParsedBlock:
        if len(parts) == 1:
            return parts[0]
        return ParsedBlock(
            np.concatenate([p.labels for p in parts]),
            np.concatenate([p.dense_raw for p in parts]),
            np.concatenate([p.keys for p in parts]),
        )


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
    buf = np.zeros(_PAD + len(block) + _PAD, dtype=np.uint8)
    buf[_PAD : _PAD + len(block)] = np.frombuffer(block, dtype=np.uint8)
    # Positions below are indices into `buf`, padding included.
    separators = np.flatnonzero((buf == _TAB) | (buf == _LF))
    starts, ends, good, bad = _split_fields(buf, separators, block.count(b"\n"), schema)
    lengths = ends - starts

    label_ok = (lengths[:, 0] == 1) & ((buf[starts[:, 0]] == _ZERO) | (buf[starts[:, 0]] == _ONE))
    for row in np.flatnonzero(~label_ok):
        label = _text(buf, starts[row, 0], ends[row, 0])
        bad.setdefault(int(good[row]), f"label must be 0 or 1, got {label!r}")
    labels = (buf[starts[:, 0]] == _ONE).astype(np.float32)

    dense = slice(1, 1 + schema.num_dense)
    dense_raw, dense_ok = decode_integers(buf, ends[:, dense], lengths[:, dense])
    for row, col in zip(*np.nonzero(~dense_ok), strict=True):
        text = _text(buf, starts[row, 1 + col], ends[row, 1 + col])
        number = _slow_number(text)
        if number is None:
            bad.setdefault(int(good[row]), f"{schema.dense[col].name}: not a number: {text!r}")
        else:
            dense_raw[row, col] = number

    sparse = slice(1 + schema.num_dense, schema.num_columns)
    keys, keys_ok = decode_tokens(buf, starts[:, sparse], lengths[:, sparse])
    keys_ok &= np.array([f.hex for f in schema.sparse], dtype=bool)
    keys[lengths[:, sparse] == 0] = MISSING_KEY
    for row, col in zip(*np.nonzero(~keys_ok & (lengths[:, sparse] > 0)), strict=True):
        start, end = starts[row, sparse][col], ends[row, sparse][col]
        text = buf[start:end].tobytes().decode("utf-8", errors="surrogateescape")
        keys[row, col] = text_key(text, hex_tokens=schema.sparse[col].hex)

    if not bad:
        return ParsedBlock(labels, dense_raw, keys), []
    keep = ~np.isin(good, np.fromiter(bad, dtype=np.int64, count=len(bad)))
    parsed = ParsedBlock(labels[keep], dense_raw[keep], keys[keep])
    return parsed, [BadLine(i, bad[i]) for i in sorted(bad)]


def _split_fields(
    buf: U8, separators: I64, num_lines: int, schema: Schema
) -> tuple[I64, I64, I64, dict[int, str]]:
    """Field starts and ends [good lines, columns], the good lines, and the bad ones."""
    columns = schema.num_columns
    # A field starts just after the previous separator (the first, where the data starts).
    previous = np.empty_like(separators)
    previous[:1] = _PAD - 1
    previous[1:] = separators[:-1]
    if len(separators) == num_lines * columns and bool(
        (buf[separators[columns - 1 :: columns]] == _LF).all()
    ):
        # Every line is well formed: the separators already are a [lines, columns] grid.
        grid = (-1, columns)
        good = np.arange(num_lines, dtype=np.int64)
        return previous.reshape(grid) + 1, separators.reshape(grid), good, {}
    newlines = separators[buf[separators] == _LF]
    # Each newline is a separator; its index among the separators counts fields per line.
    line_ends = np.searchsorted(separators, newlines)
    counts = np.diff(line_ends, prepend=-1)
    bad: dict[int, str] = {}
    for i in np.flatnonzero(counts != columns):
        previous_end = newlines[i - 1] if i else _PAD - 1
        if newlines[i] == previous_end + 1:
            bad[int(i)] = "empty line"
        else:
            bad[int(i)] = f"expected {columns} fields, got {counts[i]}"
    good = np.flatnonzero(counts == columns)
    cells = line_ends[good][:, None] + np.arange(1 - columns, 1)
    return previous[cells] + 1, separators[cells], good, bad


def _slow_number(text: str) -> float | None:
    """A decimal number off the fast path (long integer, fraction, exponent), or None."""
    if not _DECIMAL.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def _text(buf: U8, start: np.int64, end: np.int64) -> str:
    return buf[start:end].tobytes().decode("utf-8", errors="replace")

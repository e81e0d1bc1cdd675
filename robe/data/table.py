"""Rows of named columns (CSV/TSV with a header or declared columns, Parquet) to parsed blocks.

The file parsers (`robe.data.delimited`, `robe.data.parquet`) hand over blocks of rows
as lists of cells (`named_rows`); `ColumnEncoder` turns each block into a `ParsedBlock`
through `robe.data.cells`, the same conversions the service applies to JSON.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from robe.data import cells
from robe.data.tsv import BadLine, ParsedBlock
from robe.errors import DataError
from robe.keys import PAD_KEY
from robe.schema import Schema, Source, SparseFeature

Cells = list[Sequence[object]]


@dataclass(frozen=True)
class NamedRows:
    columns: list[str]
    blocks: Iterator[Cells]


@contextmanager
def named_rows(shard: Path, source: Source, lines: int) -> Iterator[NamedRows]:
    """The column names and blocks of rows of a csv, tsv or parquet file (closed on exit)."""
    from robe.data.delimited import delimited_rows
    from robe.data.parquet import parquet_rows

    close: Callable[[], None]
    if source.format == "parquet":
        columns, blocks, close = parquet_rows(shard, lines)
    elif source.format in ("csv", "tsv"):
        columns, blocks, close = delimited_rows(shard, source, lines)
    else:
        raise ValueError(f"{shard}: {source.format} files have no named columns")
    try:
        yield NamedRows(columns, blocks)
    finally:
        close()


def table_blocks(
    shard: Path, schema: Schema, lines: int
) -> Iterator[tuple[int, ParsedBlock, list[BadLine]]]:
    """(0-based file line of a block's first row, parsed rows, bad rows) per block."""
    with named_rows(shard, schema.source, lines) as table:
        encoder = ColumnEncoder(schema, table.columns, shard)
        # File lines are 1-based in messages; a header is line 1 (parquet: row numbers).
        first = 1 if schema.source.format != "parquet" and schema.source.header else 0
        for block in table.blocks:
            parsed, bad = encoder.encode(block)
            if first == 0 and bad and bad[0].index == 0:
                _check_header(shard, schema, block[0])
            yield first, parsed, bad
            first += len(block)


def _check_header(shard: Path, schema: Schema, row: Sequence[object]) -> None:
    """A headerless file whose first row names the columns: say so, not 'not a number'."""
    if schema.source.format != "parquet" and set(map(str, row)) & set(schema.source.columns):
        shown = ", ".join(map(str, row[:4]))
        raise DataError(
            f"{shard}:1: looks like a header row ({shown} ...), but the schema says the "
            'file has none: set "header": true in the schema\'s source'
        )


class ColumnEncoder:
    """Cells of rows, in a file's column order, to labels, raw numbers and keys."""

    def __init__(self, schema: Schema, columns: Sequence[str], where: Path) -> None:
        index = {name: i for i, name in enumerate(columns)}

        def find(column: str, role: str) -> int:
            if column not in index:
                shown = ", ".join(columns[:12]) + (" ..." if len(columns) > 12 else "")
                raise DataError(
                    f"{where}: no column {column!r} ({role} in schema {schema.name!r}); the "
                    f"file has {shown}: fix the schema's column names, or make one with "
                    "`robe data schema`"
                )
            return index[column]

        self.schema = schema
        self.where = where
        source = schema.source
        self.label_col = find(source.label.column, "the label")
        self.dense_cols = [find(f.source_column, f"feature {f.name}") for f in schema.dense]
        self.bucket = [t for t, f in enumerate(schema.sparse) if f.bucketize]
        self.bucket_cols = [
            find(schema.sparse[t].source_column, f"feature {schema.sparse[t].name}")
            for t in self.bucket
        ]
        self.sparse_cols = [find(f.source_column, f"feature {f.name}") for f in schema.sparse]
        self.time_col = None if source.time is None else find(source.time, "the time column")
        self.starts = [0, *np.cumsum(schema.key_widths[:-1]).tolist()]
        self.width = sum(schema.key_widths)
        self.last_time: float | str = -math.inf
        self.num_columns = len(columns)

    def encode(self, rows: Cells) -> tuple[ParsedBlock, list[BadLine]]:
        """Parse one block column by column; bad rows come back as (index, reason)."""
        schema = self.schema
        bad: dict[int, str] = {}
        need = max(self.label_col, *self.dense_cols, *self.sparse_cols) + 1
        for i, row in enumerate(rows):
            if len(row) < need:
                bad[i] = f"expected {self.num_columns} fields, got {len(row)}"
        good = [row for i, row in enumerate(rows) if i not in bad] if bad else rows
        index = [i for i in range(len(rows)) if i not in bad]
        n = len(good)
        columns = list(zip(*good, strict=False)) if n else []

        def column(c: int) -> Sequence[object]:
            return columns[c] if n else ()

        labels = np.zeros(n, dtype=np.float32)
        rule = schema.source.label
        seen: dict[object, float | str] = {}
        for i, value in enumerate(column(self.label_col)):
            got = seen.get(value)
            if got is None:
                try:
                    got = cells.label(value, rule)
                except ValueError as exc:
                    got = str(exc)
                seen[value] = got
            if isinstance(got, str):
                bad.setdefault(index[i], got)
            else:
                labels[i] = got
        numbers = np.full((n, schema.num_dense + len(self.bucket)), np.nan)
        numeric = [(f.name, c) for f, c in zip(schema.dense, self.dense_cols, strict=True)]
        numeric += [
            (schema.sparse[t].name, c) for t, c in zip(self.bucket, self.bucket_cols, strict=True)
        ]
        for j, (name, c) in enumerate(numeric):
            numbers[:, j] = self._numbers(column(c), name, index, bad)
        keys = np.full((n, self.width), PAD_KEY, dtype=np.int64)
        for t, (feature, c) in enumerate(zip(schema.sparse, self.sparse_cols, strict=True)):
            if not feature.bucketize:
                self._keys(column(c), feature, keys, self.starts[t], index, bad)
        if self.time_col is not None:
            times = column(self.time_col)
            self._check_time([t for i, t in zip(index, times, strict=True) if i not in bad])
        if not bad:
            return ParsedBlock(labels, numbers, keys), []
        keep = np.array([i not in bad for i in index], dtype=bool)
        parsed = ParsedBlock(labels[keep], numbers[keep], keys[keep])
        return parsed, [BadLine(i, bad[i]) for i in sorted(bad)]

    @staticmethod
    def _numbers(
        values: Sequence[object], name: str, index: list[int], bad: dict[int, str]
    ) -> npt.NDArray[np.float64]:
        """A column of numbers at numpy speed; cell by cell only when one is not a number."""
        try:
            out = np.array(
                [math.nan if v is None or v == "" else v for v in values], dtype=np.float64
            )
            if not np.isinf(out).any():
                return out
        except (ValueError, TypeError):
            pass
        out = np.full(len(values), np.nan)
        for i, v in enumerate(values):
            try:
                out[i] = cells.number(v)
            except ValueError as exc:
                bad.setdefault(index[i], f"{name}: {exc}")
        return out

    @staticmethod
    def _keys(
        values: Sequence[object],
        feature: SparseFeature,
        keys: npt.NDArray[np.int64],
        start: int,
        index: list[int],
        bad: dict[int, str],
    ) -> None:
        """One feature's key columns; each distinct cell is keyed once per block."""
        cache: dict[object, list[int] | str] = {}
        for i, v in enumerate(values):
            cell = tuple(v) if isinstance(v, list) else v
            got = cache.get(cell)
            if got is None:
                try:
                    got = cells.sparse_keys(v, feature)
                except ValueError as exc:
                    got = f"{feature.name}: {exc}"
                cache[cell] = got
            if isinstance(got, str):
                bad.setdefault(index[i], got)
            elif len(got) == 1:
                keys[i, start] = got[0]
            else:
                keys[i, start : start + len(got)] = got

    def _check_time(self, values: Sequence[object]) -> None:
        last = self.last_time
        for value in values:
            current = cells.time_value(value)
            if current == -math.inf:
                continue
            if not cells.in_order(last, current):
                raise DataError(
                    f"{self.where}: rows are not in time order ({self.schema.source.time} goes "
                    f"back from {last} to {current}): sort the file by it, since the "
                    "validation split is the last rows"
                )
            last = current
        self.last_time = last

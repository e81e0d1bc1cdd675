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

from robe.data import cells
from robe.data.tsv import BadLine, ParsedBlock
from robe.errors import DataError
from robe.keys import PAD_KEY
from robe.schema import Schema, Source

Cells = Sequence[Sequence[object]]


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
        self.last_time = -math.inf
        self.num_columns = len(columns)

    def encode(self, rows: Cells) -> tuple[ParsedBlock, list[BadLine]]:
        """Parse one block; bad rows come back as (index in block, reason)."""
        schema = self.schema
        n = len(rows)
        labels = np.zeros(n, dtype=np.float32)
        numbers = np.full((n, schema.num_dense + len(self.bucket)), np.nan)
        keys = np.full((n, self.width), PAD_KEY, dtype=np.int64)
        bad: list[BadLine] = []
        for i, row in enumerate(rows):
            try:
                self._encode_row(row, i, labels, numbers, keys)
            except (ValueError, IndexError) as exc:
                bad.append(BadLine(i, str(exc)))
        if not bad:
            return ParsedBlock(labels, numbers, keys), []
        keep = np.ones(n, dtype=bool)
        keep[[b.index for b in bad]] = False
        return ParsedBlock(labels[keep], numbers[keep], keys[keep]), bad

    def _encode_row(
        self,
        row: Sequence[object],
        i: int,
        labels: np.ndarray,
        numbers: np.ndarray,
        keys: np.ndarray,
    ) -> None:
        schema = self.schema
        if len(row) <= max(self.label_col, *self.dense_cols, *self.sparse_cols):
            raise ValueError(f"expected {self.num_columns} fields, got {len(row)}")
        labels[i] = cells.label(row[self.label_col], schema.source.label)
        for j, col in enumerate(self.dense_cols):
            numbers[i, j] = _named(cells.number, row[col], schema.dense[j].name)
        for j, (t, col) in enumerate(zip(self.bucket, self.bucket_cols, strict=True)):
            numbers[i, schema.num_dense + j] = _named(cells.number, row[col], schema.sparse[t].name)
        for t, (feature, col) in enumerate(zip(schema.sparse, self.sparse_cols, strict=True)):
            if feature.bucketize:
                continue
            values = _named(lambda v, f=feature: cells.sparse_keys(v, f), row[col], feature.name)
            keys[i, self.starts[t] : self.starts[t] + len(values)] = values
        if self.time_col is not None:
            time = cells.number(row[self.time_col])
            if time < self.last_time:
                raise DataError(
                    f"{self.where}: rows are not in time order ({schema.source.time} goes "
                    f"back from {self.last_time:g} to {time:g}): sort the file by it, since "
                    "the validation split is the last rows"
                )
            self.last_time = time


def _named(convert, value: object, name: str):  # type: ignore[no-untyped-def]
    try:
        return convert(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None

"""The parser of CSV and TSV files with named columns (plain or gzip), in bounded blocks.

The csv module reads one record at a time from a text stream, so a block holds at most
`lines` rows and no file is ever loaded whole. TSV is read without quoting (a quote is
an ordinary character in TSV), CSV with the usual double-quote rules.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from robe.data.shards import open_shard
from robe.errors import DataError
from robe.schema import Source

Block = list[Sequence[object]]


def delimited_rows(
    shard: Path, source: Source, lines: int
) -> tuple[list[str], Iterator[Block], Callable[[], None]]:
    """The column names, the file's rows in blocks of at most `lines` (header skipped),
    and the function that closes the file."""
    quoting: Literal[0, 3] = csv.QUOTE_NONE if source.format == "tsv" else csv.QUOTE_MINIMAL
    raw = open_shard(shard)
    text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")  # type: ignore[type-var]
    reader = csv.reader(text, delimiter=source.field_delimiter, quoting=quoting)
    if source.header:
        try:
            header = next(reader, None)
        except csv.Error as exc:
            text.close()
            raise DataError(f"{shard}:1: {exc}") from exc
        if header is None:
            text.close()
            raise DataError(f"{shard}: empty file, no header row")
        columns = [c.strip() for c in header]
    else:
        columns = list(source.columns)
    return columns, _blocks(text, reader, shard, lines), text.close


def _blocks(
    text: io.TextIOWrapper[Any], reader: Iterator[list[str]], shard: Path, lines: int
) -> Iterator[Block]:
    with text:  # closed at the end of the blocks too
        block: Block = []
        try:
            for row in reader:
                block.append(row)
                if len(block) == lines:
                    yield block
                    block = []
        except csv.Error as exc:
            raise DataError(f"{shard}: {exc}") from exc
        if block:
            yield block

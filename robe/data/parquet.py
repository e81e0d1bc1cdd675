"""The parser of Parquet files: record batches of at most `lines` rows through pyarrow."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from robe.errors import DataError

Block = list[Sequence[object]]


def parquet_rows(shard: Path, lines: int) -> tuple[list[str], Iterator[Block], Callable[[], None]]:
    """The column names, the file's rows (tuples of Python values) in blocks, and the
    function that closes the file."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(
            f"{shard}: reading Parquet needs pyarrow, which is not installed: "
            "pip install 'robe-serve[train]' (or pip install pyarrow)"
        ) from None
    try:
        file = pq.ParquetFile(shard)
    except (OSError, ValueError) as exc:
        raise DataError(f"{shard}: not a readable Parquet file ({exc})") from exc
    return list(file.schema_arrow.names), _blocks(file, lines), file.close


def _blocks(file: object, lines: int) -> Iterator[Block]:
    for batch in file.iter_batches(batch_size=lines):  # type: ignore[attr-defined]
        data = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        yield list(zip(*data, strict=True))

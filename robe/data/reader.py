"""The one reader entry point: rows of a file or folder of shards, as the schema's source says.

Every format streams in bounded blocks (never the whole file): headerless Criteo TSV
through the vectorised parser in `robe.data.tsv`, CSV/TSV with named columns through
`robe.data.delimited`, Parquet through `robe.data.parquet`. Problems become
`FILE:LINE: reason` errors, or skips counted in a `SkipReport`; the schema's transforms
(`robe.data.transform`) turn parsed blocks into model rows.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from robe.data.rows import Rows
from robe.data.shards import list_shards, open_shard
from robe.data.skips import SkipReport
from robe.data.table import table_blocks
from robe.data.transform import to_rows
from robe.data.tsv import BadLine, ParsedBlock, parse_block
from robe.errors import DataError
from robe.schema import BUILTIN_SCHEMAS, Schema, load_schema

__all__ = [
    "SkipReport",
    "iter_parsed",
    "iter_rows",
    "list_shards",
    "read_rows",
    "resolve_schema",
]

DEFAULT_SCHEMA = "criteo-kaggle"
# Bytes read per step, per line of a parse block: Criteo Kaggle lines average ~240 bytes.
_BYTES_PER_ROW = 256
# Lines parsed at a time: large enough to amortise numpy's per-call cost, small enough
# that the parser's temporaries (~30 bytes per byte of input) stay near the CPU caches.
PARSE_LINES = 8192
# Criteo lines are a few hundred bytes; anything near this is not TSV rows.
MAX_LINE_BYTES = 1 << 20


def resolve_schema(path: Path, schema_arg: str | None) -> Schema:
    """The schema to read `path` with: the argument, else a schema.json beside the data,
    else criteo-kaggle when the data looks like headerless Criteo Kaggle TSV."""
    if schema_arg is not None:
        return load_schema(schema_arg)
    folder = path if path.is_dir() else path.parent
    beside = folder / "schema.json"
    if beside.is_file():
        return load_schema(beside)
    default = BUILTIN_SCHEMAS[DEFAULT_SCHEMA]
    fields = _first_line_fields(path)
    if fields is not None and fields != default.num_columns:
        raise DataError(
            f"{path}: no --schema given and no schema.json beside the data, and the data is "
            f"not headerless Criteo Kaggle TSV ({fields} tab-separated fields on line 1, not "
            f"{default.num_columns}): make a schema with `robe data schema --data {path} "
            "--label COLUMN --out schema.json` and pass --schema schema.json"
        )
    return default


def _first_line_fields(path: Path) -> int | None:
    """Tab-separated fields on the first line of the first shard (None: nothing to read)."""
    try:
        shard = list_shards(path)[0]
    except DataError:
        return None
    with open_shard(shard) as stream:
        try:
            line = stream.readline(MAX_LINE_BYTES)
        except (OSError, EOFError, zlib.error):
            return None
    return line.count(b"\t") + 1 if line.strip() else None


def iter_rows(
    path: Path,
    schema: Schema,
    *,
    chunk_rows: int = 65536,
    skip_bad_rows: bool = False,
    report: SkipReport | None = None,
) -> Iterator[Rows]:
    """Rows of `path` in blocks of `chunk_rows` rows; the last block may be shorter."""
    for block in iter_parsed(
        path, schema, chunk_rows=chunk_rows, skip_bad_rows=skip_bad_rows, report=report
    ):
        yield to_rows(block.labels, block.dense_raw, block.keys, schema)


def read_rows(
    path: Path,
    schema: Schema,
    *,
    skip_bad_rows: bool = False,
    report: SkipReport | None = None,
    limit_rows: int | None = None,
) -> Rows:
    """All rows of `path` (or the first `limit_rows`) in one block."""
    if limit_rows is not None and limit_rows < 1:
        raise ValueError(f"limit_rows must be positive, got {limit_rows}")
    parts: list[Rows] = []
    have = 0
    chunk_rows = 65536 if limit_rows is None else min(65536, limit_rows)
    for rows in iter_rows(
        path, schema, chunk_rows=chunk_rows, skip_bad_rows=skip_bad_rows, report=report
    ):
        if limit_rows is not None and have + len(rows) >= limit_rows:
            parts.append(rows.take(slice(0, limit_rows - have)))
            break
        parts.append(rows)
        have += len(rows)
    if not parts:
        raise DataError(f"{path}: no rows left after skipping bad rows")
    return parts[0] if len(parts) == 1 else Rows.concat(parts)


def iter_parsed(
    path: Path,
    schema: Schema,
    *,
    chunk_rows: int = 65536,
    skip_bad_rows: bool = False,
    report: SkipReport | None = None,
) -> Iterator[ParsedBlock]:
    """Parsed blocks with raw numbers (NaN = missing), for readers, `inspect` and fitting."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
    lines = min(chunk_rows, PARSE_LINES)
    blocks = (
        block
        for shard in list_shards(path)
        for block in _shard_blocks(shard, schema, lines, skip_bad_rows, report)
    )
    yield from _rechunk(blocks, chunk_rows)


def _rechunk(blocks: Iterator[ParsedBlock], chunk_rows: int) -> Iterator[ParsedBlock]:
    """Blocks of exactly `chunk_rows` rows (the last may be short), across shards too."""
    parts: list[ParsedBlock] = []
    have = 0
    for block in blocks:
        parts.append(block)
        have += len(block)
        while have >= chunk_rows:
            merged = ParsedBlock.concat(parts)
            yield merged.take(slice(0, chunk_rows))
            rest = merged.take(slice(chunk_rows, None))
            parts, have = ([rest] if len(rest) else []), len(rest)
    if parts:
        yield ParsedBlock.concat(parts)


def _shard_blocks(
    shard: Path, schema: Schema, lines: int, skip_bad_rows: bool, report: SkipReport | None
) -> Iterator[ParsedBlock]:
    lines_seen = False
    for first_line, parsed, bad in _format_blocks(shard, schema, lines):
        lines_seen = True
        for line in bad:
            message = f"{shard}:{first_line + line.index + 1}: {line.reason}"
            if not skip_bad_rows:
                raise DataError(message)
            if report is not None:
                report.add(message)
        if len(parsed):
            yield parsed
    if not lines_seen:
        raise DataError(f"{shard}: empty file, no rows")


def _format_blocks(
    shard: Path, schema: Schema, lines: int
) -> Iterator[tuple[int, ParsedBlock, list[BadLine]]]:
    """The parser of the schema's source format: (first line, parsed rows, bad rows)."""
    if schema.source.format == "criteo":
        yield from _criteo_blocks(shard, schema, lines)
    else:
        yield from table_blocks(shard, schema, lines)


def _criteo_blocks(
    shard: Path, schema: Schema, lines: int
) -> Iterator[tuple[int, ParsedBlock, list[BadLine]]]:
    with open_shard(shard) as stream:
        for first_line, block in _line_blocks(stream, shard, lines):
            parsed, bad = parse_block(block, schema)
            if first_line == 0 and bad and bad[0].index == 0:
                _check_header(shard, schema, block[: block.find(b"\n")])
            yield first_line, parsed, bad


def _line_blocks(stream: io.BufferedIOBase, shard: Path, lines: int) -> Iterator[tuple[int, bytes]]:
    """(0-based number of the first line, bytes of up to `lines` whole LF-ended lines)."""
    read_size = max(lines * _BYTES_PER_ROW, 1 << 16)
    pending = b""
    first_line = 0
    while True:
        data = _read(stream, shard, read_size)
        pending = pending + data if pending else data
        if len(pending) - pending.rfind(b"\n") > MAX_LINE_BYTES:
            # Not line-oriented text (a binary file, say): stop before it fills memory.
            line = first_line + pending.count(b"\n") + 1
            raise DataError(f"{shard}:{line}: line longer than {MAX_LINE_BYTES} bytes")
        if not data and pending and not pending.endswith(b"\n"):
            pending += b"\n"  # the last line may lack its newline
        if pending.count(b"\n") >= lines:
            ends = np.flatnonzero(np.frombuffer(pending, dtype=np.uint8) == 10) + 1
            start = 0
            for cut in ends[lines - 1 :: lines].tolist():
                yield first_line, pending[start:cut]
                first_line += lines
                start = cut
            pending = pending[start:]
        if not data:
            if pending:
                yield first_line, pending
            return


def _read(stream: io.BufferedIOBase, shard: Path, size: int) -> bytes:
    try:
        return stream.read(size)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DataError(f"{shard}: damaged gzip data: {exc}") from exc
    except OSError as exc:
        raise DataError(f"{shard}: cannot read: {exc.strerror or exc}") from exc


def _check_header(shard: Path, schema: Schema, line: bytes) -> None:
    """A bad first line whose fields are all names, not values: say it is a header."""
    fields = line.decode("utf-8", "replace").rstrip("\r").split("\t")
    names = [f for f in fields if f and not f.lstrip("-").replace(".", "", 1).isdigit()]
    if len(fields) == schema.num_columns and len(names) == len(fields):
        raise DataError(
            f"{shard}:1: looks like a header row ({', '.join(fields[:4])} ...), but schema "
            f"{schema.name!r} reads headerless Criteo TSV: delete that line, or describe the "
            "file with `robe data schema` (which reads headers)"
        )

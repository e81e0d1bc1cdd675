"""Where the rows of a data path live: one file (plain or gzip) or a folder of shards."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

from robe.errors import DataError

# Data shards in a folder; the generator's side files (schema.json, items.jsonl,
# stats.json) and anything else are not rows.
DATA_SUFFIXES = (".tsv", ".txt", ".csv", ".parquet", ".gz")
_GZIP_MAGIC = b"\x1f\x8b"


def list_shards(path: Path) -> list[Path]:
    """The data files of `path`, in read order (a folder's shards sorted by name)."""
    if path.is_file():
        return [path]
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if not path.is_dir():
        raise DataError(f"{path}: not a file or folder")
    shards = sorted(
        p
        for p in path.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name.endswith(DATA_SUFFIXES)
    )
    if not shards:
        raise DataError(f"{path}: folder holds no data shards ({', '.join(DATA_SUFFIXES)})")
    return shards


def open_shard(path: Path) -> io.BufferedIOBase:
    """A binary stream of the file's bytes, decompressed when it is gzip (by content)."""
    try:
        with path.open("rb") as probe:
            magic = probe.read(2)
        if magic == _GZIP_MAGIC:
            return gzip.open(path, "rb")
        return path.open("rb")
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from exc

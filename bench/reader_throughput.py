"""Rows per second of the streaming reader (`robe.data.reader.iter_rows`).

Usage:
    python bench/reader_throughput.py PATH [--repeat N] [--chunk-rows R] [--schema S]
    python bench/reader_throughput.py CRITEO_FILE --formats [--rows N] [--repeat N]

The first form times PATH and prints one JSON line: rows, best wall and CPU seconds
over the repeats, and rows/s. The second writes the first N rows of a headerless
Criteo Kaggle file again as CSV (with a header), gzip CSV, TSV with a header and
Parquet, reads each with a schema describing it (the same 13 dense and 26 hex-token
columns), and prints one JSON line per format: median wall and CPU seconds of the
repeats, run in turn (format by format within each repeat) so that load on a shared
machine falls on all of them alike. CPU time is reported beside wall time because
shared machines stretch the latter.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import gzip
import json
import statistics
import tempfile
import time
from pathlib import Path

from robe.data.reader import iter_rows, resolve_schema
from robe.schema import BUILTIN_SCHEMAS, Schema, Source


def timed(path: Path, schema: Schema, chunk_rows: int) -> tuple[int, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    rows = sum(len(block) for block in iter_rows(path, schema, chunk_rows=chunk_rows))
    return rows, time.perf_counter() - wall, time.process_time() - cpu


def one_path(args: argparse.Namespace) -> None:
    schema = resolve_schema(args.path, args.schema)
    runs = [timed(args.path, schema, args.chunk_rows) for _ in range(args.repeat)]
    rows = runs[0][0]
    best_wall = min(r[1] for r in runs)
    best_cpu = min(r[2] for r in runs)
    result = {
        "path": str(args.path),
        "rows": rows,
        "chunk_rows": args.chunk_rows,
        "wall_s": round(best_wall, 3),
        "cpu_s": round(best_cpu, 3),
        "rows_per_s_wall": round(rows / best_wall),
        "rows_per_s_cpu": round(rows / best_cpu),
    }
    print(json.dumps(result))


def write_formats(criteo: Path, rows: int, out: Path) -> dict[str, tuple[Path, Schema]]:
    """The first `rows` rows of a Criteo file in every format, with their schemas."""
    kaggle = BUILTIN_SCHEMAS["criteo-kaggle"]
    header = ["label", *(f.name for f in kaggle.dense), *(f.name for f in kaggle.sparse)]
    with criteo.open() as fh:
        lines = [fh.readline().rstrip("\n").split("\t") for _ in range(rows)]
    lines = [line for line in lines if len(line) == len(header)]
    files: dict[str, tuple[Path, Schema]] = {"criteo": (out / "rows.txt", kaggle)}
    with (out / "rows.txt").open("w") as fh:
        fh.writelines("\t".join(line) + "\n" for line in lines)
    for name, fmt, delimiter, opener in (
        ("csv", "csv", ",", open),
        ("csv.gz", "csv", ",", gzip.open),
        ("tsv", "tsv", "\t", open),
    ):
        path = out / f"rows.{name}"
        with opener(path, "wt", newline="") as fh:  # type: ignore[operator]
            writer = csv.writer(fh, delimiter=delimiter)
            writer.writerow(header)
            writer.writerows(lines)
        source = Source(format=fmt, delimiter=delimiter, header=True)  # type: ignore[arg-type]
        files[name] = (path, dataclasses.replace(kaggle, source=source))
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = list(zip(*lines, strict=True))
    table = {"label": pa.array([int(x) for x in columns[0]])}
    for i, f in enumerate(kaggle.dense, 1):
        table[f.name] = pa.array([int(x) if x else None for x in columns[i]], pa.int64())
    for i, f in enumerate(kaggle.sparse, 1 + kaggle.num_dense):
        table[f.name] = pa.array([x or None for x in columns[i]], pa.string())
    pq.write_table(pa.table(table), out / "rows.parquet")
    files["parquet"] = (out / "rows.parquet", dataclasses.replace(kaggle, source=Source("parquet")))
    return files


def formats(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        files = write_formats(args.path, args.rows, Path(tmp))
        runs: dict[str, list[tuple[int, float, float]]] = {name: [] for name in files}
        for _ in range(args.repeat):
            for name, (path, schema) in files.items():
                runs[name].append(timed(path, schema, args.chunk_rows))
        for name, results in runs.items():
            rows = results[0][0]
            wall = statistics.median(r[1] for r in results)
            cpu = statistics.median(r[2] for r in results)
            print(
                json.dumps(
                    {
                        "format": name,
                        "rows": rows,
                        "median_wall_s": round(wall, 3),
                        "median_cpu_s": round(cpu, 3),
                        "rows_per_s_cpu": round(rows / cpu),
                        "repeats": args.repeat,
                    }
                )
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunk-rows", type=int, default=65536)
    parser.add_argument("--schema", default=None)
    parser.add_argument("--formats", action="store_true", help="time every source format")
    parser.add_argument("--rows", type=int, default=10_000, help="rows per format (--formats)")
    args = parser.parse_args()
    if args.formats:
        formats(args)
    else:
        one_path(args)


if __name__ == "__main__":
    main()

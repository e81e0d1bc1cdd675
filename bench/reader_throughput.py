"""Rows per second of the streaming Criteo reader (`robe.data.reader.iter_rows`).

Usage: python bench/reader_throughput.py PATH [--repeat N] [--chunk-rows R] [--schema S]
Prints one JSON line: rows, best wall and CPU seconds over the repeats, and rows/s.
CPU time is reported beside wall time because shared machines stretch the latter.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from robe.data.reader import iter_rows, resolve_schema


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunk-rows", type=int, default=65536)
    parser.add_argument("--schema", default=None)
    args = parser.parse_args()
    schema = resolve_schema(args.path, args.schema)
    best_wall = best_cpu = float("inf")
    rows = 0
    for _ in range(args.repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        rows = sum(
            len(block) for block in iter_rows(args.path, schema, chunk_rows=args.chunk_rows)
        )
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
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


if __name__ == "__main__":
    main()

"""`robe data synth` and `robe data inspect`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from robe.schema import load_schema


def register(sub: Any) -> None:
    data = sub.add_parser("data", help="make or look at Criteo-format data")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    synth = data_sub.add_parser("synth", help="write synthetic Criteo-format data")
    synth.add_argument(
        "--schema", required=True, help="criteo-kaggle, criteo-terabyte or a schema .json file"
    )
    synth.add_argument("--rows", type=int, required=True, help="rows to generate")
    synth.add_argument(
        "--seed", type=int, default=0, help="random seed (output is a function of it)"
    )
    synth.add_argument("--out", type=Path, required=True, help="output directory")
    synth.add_argument(
        "--shards",
        type=int,
        default=0,
        help="TSV shards to write (default: one per million rows, at least 1)",
    )
    synth.add_argument("--gzip", action="store_true", help="gzip the shards")
    synth.add_argument(
        "--users", type=int, default=0, help="distinct users (default: scales with rows)"
    )
    synth.add_argument(
        "--items", type=int, default=0, help="catalog size (default: scales with rows)"
    )
    synth.set_defaults(handler=run_synth)

    inspect = data_sub.add_parser("inspect", help="print rows, CTR and distinct counts")
    inspect.add_argument("path", type=Path, help="a TSV file (plain or .gz) or a folder of shards")
    inspect.add_argument(
        "--schema",
        default=None,
        help="schema name or file (default: PATH/schema.json, else criteo-kaggle)",
    )
    inspect.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help="count and skip malformed rows instead of stopping at the first",
    )
    inspect.add_argument("--json", action="store_true", help="print JSON instead of a table")
    inspect.set_defaults(handler=run_inspect)

    schema = data_sub.add_parser(
        "schema", help="read a CSV/TSV/Parquet file once and write a schema for it"
    )
    schema.add_argument("--data", type=Path, required=True, help="a .csv, .tsv or .parquet file")
    schema.add_argument("--label", required=True, help="the label column")
    schema.add_argument("--ignore", default="", help="columns to leave out, comma-separated")
    schema.add_argument("--user-key", default=None, help="the user id column (user side)")
    schema.add_argument("--item-key", default=None, help="the item id column (item side)")
    schema.add_argument(
        "--time", default=None, help="the time column; the file must be sorted by it"
    )
    schema.add_argument(
        "--columns",
        default="",
        help="the file has no header row: its column names in order, comma-separated",
    )
    schema.add_argument(
        "--delimiter",
        default="",
        help="field separator when the extension does not say it (',', 'tab', '|', ';')",
    )
    schema.add_argument("--out", type=Path, required=True, help="schema JSON to write")
    schema.set_defaults(handler=run_schema)

    catalog = data_sub.add_parser("catalog", help="write items.jsonl from a data file")
    catalog.add_argument("--data", type=Path, required=True, help="the data file or folder")
    catalog.add_argument("--schema", required=True, help="the schema JSON file")
    catalog.add_argument("--item-key", required=True, help="the item id column")
    catalog.add_argument("--out", type=Path, required=True, help="items.jsonl to write")
    catalog.set_defaults(handler=run_catalog)


def run_synth(args: argparse.Namespace) -> int:
    from robe.data.synth import SynthConfig, synthesize

    config = SynthConfig(
        schema=load_schema(args.schema),
        rows=args.rows,
        seed=args.seed,
        out=args.out,
        shards=args.shards,
        compress=args.gzip,
        users=args.users,
        items=args.items,
    )
    stats = synthesize(config)
    print(json.dumps(stats, indent=2))
    return 0


def run_inspect(args: argparse.Namespace) -> int:
    from robe.data.inspect import inspect_data
    from robe.data.reader import resolve_schema

    schema = resolve_schema(args.path, args.schema)
    report = inspect_data(args.path, schema, skip_bad_rows=args.skip_bad_rows)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.format())
    if report.skipped:
        first = report.skip_examples[0]
        print(f"robe data: skipped {report.skipped} bad rows (first: {first})", file=sys.stderr)
    return 0


def run_schema(args: argparse.Namespace) -> int:
    from robe.data.infer import InferConfig, infer_schema

    config = InferConfig(
        data=args.data,
        label=args.label,
        ignore=tuple(c.strip() for c in args.ignore.split(",") if c.strip()),
        user_key=args.user_key,
        item_key=args.item_key,
        time=args.time,
        columns=tuple(c.strip() for c in args.columns.split(",") if c.strip()),
        delimiter="\t" if args.delimiter.lower() in ("tab", "\\t") else args.delimiter,
    )
    inferred = infer_schema(config)
    inferred.schema.save(args.out)
    print(inferred.format())
    print(f"wrote {args.out}")
    return 0


def run_catalog(args: argparse.Namespace) -> int:
    from robe.data.catalog_builder import build_catalog

    count = build_catalog(args.data, load_schema(args.schema), args.item_key, args.out)
    print(f"wrote {count} items to {args.out}")
    return 0

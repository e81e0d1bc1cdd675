"""`robe data catalog`: the item-side features of every item in a data file, as items.jsonl.

One streaming pass; an item's features come from its latest row (rows are in time
order, so the latest is the current one). Values are written raw, as a request would
send them, so the service keys them exactly as training keyed the file.
"""

from __future__ import annotations

import math
from pathlib import Path

from robe.catalog import CatalogItem, write_items
from robe.data import cells
from robe.data.shards import list_shards
from robe.data.table import NamedRows, named_rows
from robe.errors import DataError
from robe.schema import DenseFeature, Schema, SparseFeature


def build_catalog(data: Path, schema: Schema, item_key: str, out: Path) -> int:
    """Write `out`; returns the number of items."""
    if schema.source.format == "criteo":
        raise DataError(
            f"schema {schema.name!r} reads headerless Criteo TSV, which names no item column: "
            "robe data catalog needs a csv, tsv or parquet source"
        )
    dense = [f for f in schema.dense if f.side == "item"]
    sparse = [f for f in schema.sparse if f.side == "item"]
    if not dense and not sparse:
        raise DataError(f"schema {schema.name!r} has no item-side features to put in a catalog")
    items: dict[str, dict[str, object]] = {}
    for shard in list_shards(data):
        with named_rows(shard, schema.source, 8192) as table:
            _add_items(shard, schema, table, item_key, dense, sparse, items)
    if not items:
        raise DataError(f"{data}: no rows with an {item_key!r} value")
    write_items(out, (CatalogItem(item_id, f) for item_id, f in items.items()))
    return len(items)


def _plain(x: float) -> float | int:
    """1995 rather than 1995.0: the number as the file wrote it, when it is whole."""
    return int(x) if x.is_integer() and abs(x) < 2**53 else x


def _add_items(
    shard: Path,
    schema: Schema,
    table: NamedRows,
    item_key: str,
    dense: list[DenseFeature],
    sparse: list[SparseFeature],
    items: dict[str, dict[str, object]],
) -> None:
    """Each row's item features, written over the item's earlier ones."""
    columns = table.columns
    index = {c: i for i, c in enumerate(columns)}
    wanted = [item_key, *(f.source_column for f in dense), *(f.source_column for f in sparse)]
    for column in wanted:
        if column not in index:
            raise DataError(
                f"{shard}: no column {column!r} (--item-key or an item feature of schema "
                f"{schema.name!r}); the file has {', '.join(columns[:12])}"
            )
    key_col = index[item_key]
    for block in table.blocks:
        for row in block:
            key = row[key_col]
            if key is None or key == "":
                continue
            features: dict[str, object] = {}
            for d in dense:
                x = cells.number(row[index[d.source_column]])
                features[d.name] = None if math.isnan(x) else _plain(x)
            for s in sparse:
                value = row[index[s.source_column]]
                if s.bucketize:
                    x = cells.number(value)
                    value = None if math.isnan(x) else _plain(x)
                features[s.name] = None if value == "" else value
            items[str(key)] = features

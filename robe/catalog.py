"""The item catalog file, `items.jsonl`: written, checked and read here only.

One item per line: `{"item_id": str, "features": {item-side feature: raw value}}`;
"features" may be absent (every feature missing), blank lines are skipped. The
generator writes it, the exporter checks it before it copies it into the artifact,
the service and the load tester read it; each turns a CatalogError (one line naming
the file and line) into its own domain error.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robe.errors import DataError

CATALOG = "items.jsonl"


class CatalogError(DataError):
    """A catalog file that is missing or has a malformed line."""


@dataclass(frozen=True)
class CatalogItem:
    item_id: str
    features: dict[str, Any] = field(default_factory=dict)


def write_items(path: Path, items: Iterable[CatalogItem]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for item in items:
            fh.write(json.dumps({"item_id": item.item_id, "features": item.features}) + "\n")


def read_items(path: Path) -> Iterator[tuple[int, CatalogItem]]:
    """(line number, item) for every item line; CatalogError naming the first bad line."""
    if not path.is_file():
        raise CatalogError(f"catalog {path} does not exist")
    number = 0
    try:
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if line.strip():
                    yield number, _parse(f"{path}:{number}", line)
    except UnicodeDecodeError as exc:
        raise CatalogError(f"{path}:{number + 1}: not UTF-8 text ({exc.reason})") from exc


def _parse(where: str, line: str) -> CatalogItem:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{where}: not valid JSON ({exc})") from exc
    if not isinstance(raw, dict) or "item_id" not in raw:
        raise CatalogError(f'{where}: an item needs an "item_id"')
    item_id, features = raw["item_id"], raw.get("features", {})
    if not isinstance(item_id, str):
        raise CatalogError(f'{where}: "item_id" must be a string')
    if not isinstance(features, dict):
        raise CatalogError(f'{where}: "features" must be an object')
    return CatalogItem(item_id, features)


def check_catalog(path: Path) -> int:
    """The number of items; CatalogError at the first line that is not one."""
    return sum(1 for _ in read_items(path))

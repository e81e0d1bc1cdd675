"""The writer of `items.jsonl`, the item catalog `robe export --catalog` packs.

One JSON object per line: {"item_id": str, "features": {item-side feature: raw value}}.
Raw values are what a request would send (numbers, text, arrays for multi-valued
features); the service hashes them as it hashes requests.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path


def write_items(path: Path, items: Iterable[tuple[str, Mapping[str, object]]]) -> int:
    """Write the catalog; returns the number of items."""
    count = 0
    with path.open("w", encoding="utf-8") as f:
        for item_id, features in items:
            f.write(json.dumps({"item_id": item_id, "features": dict(features)}) + "\n")
            count += 1
    return count

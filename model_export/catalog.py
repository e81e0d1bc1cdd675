"""The item catalog travels with the artifact: `items.jsonl`, one item per line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from model_export.errors import ArtifactError
from model_export.manifest import CATALOG


def default_catalog(metrics: dict[str, Any]) -> Path | None:
    """The catalog beside the training data recorded in metrics.json, if it is there."""
    data = metrics.get("data")
    if not isinstance(data, str) or not data:
        return None
    root = Path(data)
    candidate = (root if root.is_dir() else root.parent) / CATALOG
    return candidate if candidate.is_file() else None


def check_catalog(path: Path) -> int:
    """Every line a JSON object with "item_id" and a "features" object; returns the count."""
    if not path.is_file():
        raise ValueError(f"--catalog {path} does not exist")
    count = 0
    number = 0
    try:
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                count += _check_item(path, number, line)
    except UnicodeDecodeError as exc:
        raise ArtifactError(f"{path}:{number + 1}: not UTF-8 text ({exc.reason})") from exc
    return count


def _check_item(path: Path, number: int, line: str) -> int:
    """1 for an item, 0 for a blank line; ArtifactError naming the line otherwise."""
    if not line.strip():
        return 0
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}:{number}: not valid JSON ({exc})") from exc
    if not isinstance(item, dict) or "item_id" not in item:
        raise ArtifactError(f'{path}:{number}: an item needs an "item_id"')
    if not isinstance(item.get("features"), dict):
        raise ArtifactError(f'{path}:{number}: "features" must be an object')
    return 1


def copy_catalog(path: Path, directory: Path) -> str:
    """Copy a catalog (already checked by check_catalog) into the artifact."""
    shutil.copyfile(path, directory / CATALOG)
    return CATALOG

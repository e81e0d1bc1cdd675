"""The item catalog travels with the artifact (its file format: robe.catalog)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from model_export.errors import ArtifactError
from robe.catalog import CATALOG, CatalogError
from robe.catalog import check_catalog as count_items


def default_catalog(metrics: dict[str, Any]) -> Path | None:
    """The catalog beside the training data recorded in metrics.json, if it is there."""
    data = metrics.get("data")
    if not isinstance(data, str) or not data:
        return None
    root = Path(data)
    candidate = (root if root.is_dir() else root.parent) / CATALOG
    return candidate if candidate.is_file() else None


def check_catalog(path: Path) -> int:
    """The number of items; ArtifactError naming the first bad line."""
    if not path.is_file():
        raise ValueError(f"--catalog {path} does not exist")
    try:
        return count_items(path)
    except CatalogError as exc:
        raise ArtifactError(str(exc)) from exc


def copy_catalog(path: Path, directory: Path) -> str:
    """Copy a catalog (already checked by check_catalog) into the artifact."""
    shutil.copyfile(path, directory / CATALOG)
    return CATALOG

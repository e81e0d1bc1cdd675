"""Helpers for reader tests: the real Criteo sample, hand-made lines, a slow reference."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from robe.data.rows import Rows, dense_transform
from robe.keys import value_key

# CI puts shared/ beside the clone; a checkout may also hold it inside.
_ROOT = Path(__file__).resolve().parents[3]
_CANDIDATES = [
    _ROOT / ".." / "shared" / "data" / "criteo" / "kaggle_train_sample_10k.txt",
    _ROOT / "shared" / "data" / "criteo" / "kaggle_train_sample_10k.txt",
]
SAMPLE_ROWS = 10_000
SAMPLE_POSITIVES = 2_182


def sample_path() -> Path:
    """The 10k-row Kaggle sample, or a skip when this checkout has no shared/ data."""
    for path in _CANDIDATES:
        if path.is_file():
            return path.resolve()
    pytest.skip(f"Criteo sample not found (looked in {', '.join(map(str, _CANDIDATES))})")


def line(label: str = "0", dense: list[str] | None = None, sparse: list[str] | None = None) -> str:
    """One Criteo Kaggle TSV line (no newline); unspecified fields get plain valid values."""
    dense = dense if dense is not None else [str(i) for i in range(13)]
    sparse = sparse if sparse is not None else [f"{i:08x}" for i in range(26)]
    return "\t".join([label, *dense, *sparse])


def reference_rows(path: Path, num_dense: int = 13) -> Rows:
    """A slow field-by-field parse with the csv module and robe.keys.value_key."""
    labels, dense, keys = [], [], []
    with path.open(newline="") as f:
        for fields in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            labels.append(float(fields[0]))
            dense.append([float(v) if v else np.nan for v in fields[1 : 1 + num_dense]])
            keys.append([value_key(v, hex_tokens=True) for v in fields[1 + num_dense :]])
    return Rows(
        np.array(labels, dtype=np.float32),
        dense_transform(np.array(dense, dtype=np.float64).reshape(len(labels), num_dense)),
        np.array(keys, dtype=np.int64),
    )


def assert_rows_equal(a: Rows, b: Rows) -> None:
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.dense, b.dense)
    np.testing.assert_array_equal(a.keys, b.keys)

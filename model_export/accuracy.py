"""The accuracy guard of reduced-precision variants: validation rows scored by eager fp32
and by the variant; AUC and score differences, and whether the AUC held.

The rows are the training run's own validation split (the chronologically last
`val_rows` rows of its data, as robe.train held them out) unless a file is named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from model_export.errors import ExportError
from model_export.precision import AUC_DELTA_MIN
from robe.metrics import auc
from robe.schema import Schema

Floats = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int64]
Scorer = Callable[[Floats, Ints, Ints], Floats]
BATCH = 4096


@dataclass(frozen=True)
class LabelledRows:
    labels: Floats
    dense: Floats
    keys: Ints  # [n, T]: one value per feature

    def batches(self, size: int = BATCH) -> Iterator[tuple[Floats, Ints, Ints]]:
        for start in range(0, len(self.labels), size):
            keys = self.keys[start : start + size]
            offsets = np.arange(keys.size + 1, dtype=np.int64)
            yield self.dense[start : start + size], np.ascontiguousarray(keys).reshape(-1), offsets


def validation_rows(
    schema: Schema, metrics: dict[str, Any], data: Path | None, limit: int | None = None
) -> tuple[LabelledRows, str]:
    """The rows the guard scores, and where they came from (for the manifest)."""
    from robe.data.reader import read_rows

    if data is not None:
        rows = read_rows(data, schema, limit_rows=limit)
        source = str(data)
    else:
        path, held = metrics.get("data"), metrics.get("val_rows")
        if not isinstance(path, str) or not isinstance(held, int) or held < 1:
            raise ExportError(
                "--verify needs validation rows: the run's metrics.json names no data and "
                "val_rows; pass --verify-data FILE"
            )
        if not Path(path).exists():
            raise ExportError(f"--verify: the run's data {path} is gone; pass --verify-data FILE")
        every = read_rows(Path(path), schema)
        rows = every.take(slice(len(every) - held, len(every)))
        if limit is not None:
            rows = rows.take(slice(0, limit))
        source = f"{path} (last {held} rows: the run's validation split)"
    labelled = LabelledRows(
        np.ascontiguousarray(rows.labels, dtype=np.float32),
        np.ascontiguousarray(rows.dense, dtype=np.float32),
        np.ascontiguousarray(rows.keys, dtype=np.int64),
    )
    return labelled, source


def score_all(scorer: Scorer, rows: LabelledRows) -> Floats:
    return np.concatenate([np.asarray(scorer(*b), np.float32).reshape(-1) for b in rows.batches()])


def guard(labels: Floats, reference: Floats, scores: Floats) -> dict[str, Any]:
    """The manifest's record for one variant: auc, auc_fp32, auc_delta, score diffs, passed."""
    finite = bool(np.isfinite(scores).all()) and scores.shape == reference.shape
    auc_fp32 = auc(labels, reference)
    if not finite:
        return {"auc": None, "auc_fp32": auc_fp32, "auc_delta": None, "passed": False}
    got = auc(labels, scores)
    diff = np.abs(scores.astype(np.float64) - reference.astype(np.float64))
    delta = got - auc_fp32
    return {
        "auc": got,
        "auc_fp32": auc_fp32,
        "auc_delta": delta,
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "passed": delta >= AUC_DELTA_MIN,
    }

"""The accuracy guard of reduced-precision variants: validation rows scored by eager fp32
and by the variant; AUC and score differences, and whether the AUC held.

The rows are the training run's own validation split (the chronologically last
`val_rows` rows of its data, as robe.train held them out) unless a file is named.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from model_export.errors import ExportError
from model_export.precision import AUC_DELTA_MIN
from robe.data.rows import Rows
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

    def head(self, n: int) -> LabelledRows:
        return LabelledRows(self.labels[:n], self.dense[:n], self.keys[:n])

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
    return labelled(rows), source


def labelled(rows: Rows) -> LabelledRows:
    """`LabelledRows` of rows read by robe.data (labels, dense, keys)."""
    return LabelledRows(
        np.ascontiguousarray(rows.labels, dtype=np.float32),
        np.ascontiguousarray(rows.dense, dtype=np.float32),
        np.ascontiguousarray(rows.keys, dtype=np.int64),
    )


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


def verify_precisions(
    model: Any,
    directory: Path,
    formats: dict[str, dict[str, Any]],
    rows: LabelledRows,
    source: str,
) -> dict[str, Any]:
    """The manifest's `verify.precisions`: every format at every precision it carries,
    scored on `rows` against the eager fp32 model."""
    import torch

    from model_export.exportable import eager_scores
    from model_export.loaders import format_scorer
    from model_export.precision import FP32, variant_entry

    def eager(dense: Floats, values: Ints, offsets: Ints) -> Floats:
        args = (torch.from_numpy(dense), torch.from_numpy(values), torch.from_numpy(offsets))
        return eager_scores(model, *args).numpy()

    reference = score_all(eager, rows)
    variants: dict[str, dict[str, Any]] = {}
    for fmt, entry in formats.items():
        for precision in (FP32, *entry.get("precisions", {})):
            scorer = format_scorer(directory, fmt, variant_entry(entry, precision))
            score_all(scorer, rows.head(BATCH))  # warm-up: first-call allocations
            started = time.perf_counter()
            scores = score_all(scorer, rows)
            seconds = time.perf_counter() - started
            record = guard(rows.labels, reference, scores)
            # what `robe serve --precision auto` ranks passed variants by
            record["rows_per_s"] = len(rows.labels) / max(seconds, 1e-9)
            variants.setdefault(fmt, {})[precision] = record
    return {
        "rows": len(rows.labels),
        "source": source,
        "reference": "eager fp32",
        "auc_delta_min": AUC_DELTA_MIN,
        "variants": variants,
    }

"""Transform statistics from the training split: standardize's mean/std, bucket edges.

Computed once before training on the rows that training will see (all rows but the
held-out validation tail), then kept in the schema, hence in the checkpoint and the
exported artifact, so serving applies exactly the same numbers.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import numpy.typing as npt

from robe.data.reader import iter_parsed
from robe.data.skips import SkipReport
from robe.errors import DataError
from robe.schema import Schema


def held_rows(n: int, val_rows: int | None, val_fraction: float) -> int:
    """How many of n rows the chronological split holds out for validation."""
    return val_rows if val_rows is not None else round(n * val_fraction)


def fit_schema(
    path: Path,
    schema: Schema,
    *,
    held: int | None,
    val_fraction: float = 0.1,
    skip_bad_rows: bool = False,
) -> Schema:
    """`schema` with its missing statistics computed on the training rows of `path`.

    `held`: validation rows at the end of the file (None: `val_fraction` of them; 0 when
    validation data is separate).
    """
    if schema.fitted:
        return schema
    dense_cols = [i for i, f in enumerate(schema.dense) if not f.fitted]
    bucket_feats = [t for t, f in enumerate(schema.sparse) if f.bucketize]
    parts: list[npt.NDArray[np.float64]] = []
    for block in iter_parsed(path, schema, skip_bad_rows=skip_bad_rows, report=SkipReport()):
        numeric = np.concatenate(
            [block.dense_raw[:, dense_cols], block.dense_raw[:, schema.num_dense :]], axis=1
        )
        parts.append(numeric)
    values = np.concatenate(parts)
    n = values.shape[0]
    keep = n - held_rows(n, held, val_fraction)
    if keep < 1:
        raise DataError(f"{path}: no training rows left to fit transforms on")
    train = values[:keep]
    dense = list(schema.dense)
    for j, i in enumerate(dense_cols):
        column = train[:, j]
        column = column[~np.isnan(column)]
        mean = float(column.mean()) if column.size else 0.0
        std = float(column.std()) if column.size else 0.0
        dense[i] = dataclasses.replace(dense[i], mean=mean, std=std if std > 0 else 1.0)
    sparse = list(schema.sparse)
    for j, t in enumerate(bucket_feats):
        f = sparse[t]
        if f.boundaries is not None:
            continue
        column = train[:, len(dense_cols) + j]
        column = column[~np.isnan(column)]
        quantiles = np.arange(1, f.size) / f.size
        edges = np.unique(np.quantile(column, quantiles)) if column.size else np.zeros(0)
        sparse[t] = dataclasses.replace(f, boundaries=tuple(float(e) for e in edges))
    return dataclasses.replace(schema, dense=tuple(dense), sparse=tuple(sparse))

"""Raw parsed values to model rows, per the schema's transforms (training and serving).

A parsed block's `dense_raw` holds the dense features' raw numbers (NaN = missing),
then the raw numbers of the bucketized sparse features, in schema order. Dense
features become log1p, standardized or untouched floats; a bucketized feature becomes
the key of its bucket (0 .. len(boundaries)), NaN the missing key.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from robe.data.rows import Rows, dense_transform
from robe.keys import MISSING_KEY
from robe.schema import DenseFeature, Schema

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


def bucketized(schema: Schema) -> list[int]:
    """Indices of the bucketized sparse features, in schema order."""
    return [t for t, f in enumerate(schema.sparse) if f.bucketize]


def key_starts(schema: Schema) -> list[int]:
    """The first key column of each sparse feature."""
    return [0, *np.cumsum(schema.key_widths[:-1]).tolist()]


def transform_dense(raw: F64, features: tuple[DenseFeature, ...]) -> F32:
    """[n, F] raw numbers (NaN missing) -> [n, F] model inputs."""
    if all(f.transform == "log1p" for f in features):
        return dense_transform(raw)
    out = np.empty(raw.shape, dtype=np.float32)
    for col, f in enumerate(features):
        x = raw[:, col]
        if f.transform == "log1p":
            out[:, col] = dense_transform(x)
        elif f.transform == "standardize":
            if f.mean is None or f.std is None:
                raise ValueError(f"dense feature {f.name!r}: standardize has no mean/std yet")
            out[:, col] = np.nan_to_num((x - f.mean) / f.std, nan=0.0)
        else:
            out[:, col] = np.nan_to_num(x, nan=0.0)
    return out


def bucket_keys(raw: F64, boundaries: tuple[float, ...]) -> I64:
    """Bucket index keys (value v is in bucket #{b : b <= v}); NaN is the missing key."""
    keys = np.searchsorted(np.asarray(boundaries, dtype=np.float64), raw, side="right")
    return np.where(np.isnan(raw), MISSING_KEY, keys).astype(np.int64)


def to_rows(labels: npt.NDArray[np.float32], dense_raw: F64, keys: I64, schema: Schema) -> Rows:
    """Model rows from a parsed block; fills the bucketized features' key columns."""
    f = schema.num_dense
    buckets = bucketized(schema)
    if buckets:
        keys = keys.copy()
        starts = key_starts(schema)
        for j, t in enumerate(buckets):
            boundaries = schema.sparse[t].boundaries
            if boundaries is None:
                raise ValueError(f"sparse feature {schema.sparse[t].name!r}: no boundaries yet")
            keys[:, starts[t]] = bucket_keys(dense_raw[:, f + j], boundaries)
    widths = None if all(w == 1 for w in schema.key_widths) else schema.key_widths
    return Rows(labels, transform_dense(dense_raw[:, :f], schema.dense), keys, widths)

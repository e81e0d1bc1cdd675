"""Constants and per-feature parameters of the synthetic click model.

Everything here is drawn once from the seed (or fixed): Zipf exponents, missing
rates, effect sizes, and which features play the user id, item id, user segment and
item category.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robe.data.synth_random import F64
from robe.schema import Schema, Side

LATENT_DIM = 8
TARGET_CTR = 0.23
# Per-value effect amplitudes (logit units, at the head of a feature).
ID_EFFECT = 0.55
VALUE_EFFECT = (0.15, 0.45)  # uniform range, per feature
DENSE_EFFECT = 0.25
AFFINITY = 0.9
SEGMENT_WEIGHT = 0.7
# Ranks past which effects shrink like rank^-1/2 (see synth_random.rank_decay).
DECAY_SCALE = 200.0
ID_DECAY_SCALE = 100.0
# Zipf-Mandelbrot (exponent, offset) of user activity and item popularity: a few
# heavy users and hit items, without one user taking a tenth of all rows.
USER_ACTIVITY = (1.1, 50.0)
ITEM_POPULARITY = (1.1, 10.0)
# Missing rates, drawn per feature from Criteo-like menus (most features rarely
# missing, a few often).
_SPARSE_MISSING = (0.0, 0.0, 0.0, 0.01, 0.02, 0.03, 0.04, 0.2, 0.44, 0.76)
_DENSE_MISSING = (0.0, 0.0, 0.002, 0.04, 0.04, 0.22, 0.22, 0.45, 0.76)
# Sequential-generator streams: parameters, users, items, calibration sample, rows.
STREAM_PARAMS, STREAM_USERS, STREAM_ITEMS, STREAM_CALIBRATION, STREAM_ROWS = range(5)


@dataclass(frozen=True)
class FeatureParams:
    """Per-feature constants of the click model, drawn once from the seed."""

    sparse_exponent: F64  # [S] Zipf exponent of each sparse feature's values
    sparse_missing: F64  # [S]
    sparse_amp: F64  # [S] per-value effect amplitude
    dense_mu: F64  # [D] log-scale location of the counts
    dense_sigma: F64  # [D]
    dense_missing: F64  # [D]
    dense_weight: F64  # [D] logit weight of the standardised log count (0 for most)


def side_columns(schema: Schema, side: Side) -> tuple[list[int], list[int]]:
    """Indices of the side's dense and sparse features in schema order."""
    dense = [j for j, f in enumerate(schema.dense) if f.side == side]
    sparse = [j for j, f in enumerate(schema.sparse) if f.side == side]
    return dense, sparse


def id_and_segment(schema: Schema, sparse_cols: list[int]) -> tuple[int | None, int | None]:
    """The id-like feature (largest table) and a coarse one (smallest other table)."""
    if not sparse_cols:
        return None, None
    sizes = [schema.sparse[j].size for j in sparse_cols]
    id_col = sparse_cols[int(np.argmax(sizes))]
    rest = [j for j in sparse_cols if j != id_col]
    if not rest:
        return id_col, None
    return id_col, rest[int(np.argmin([schema.sparse[j].size for j in rest]))]


def draw_params(schema: Schema, seed: int) -> FeatureParams:
    rng = np.random.default_rng([seed, STREAM_PARAMS])
    s, d = schema.num_sparse, schema.num_dense
    weights = np.zeros(d)
    chosen = rng.permutation(d)[: max(1, d // 3)] if d else np.zeros(0, dtype=np.int64)
    weights[chosen] = DENSE_EFFECT * rng.choice([-1.0, 1.0], size=chosen.size)
    return FeatureParams(
        sparse_exponent=rng.uniform(1.05, 1.2, size=s),
        sparse_missing=rng.choice(_SPARSE_MISSING, size=s),
        sparse_amp=rng.uniform(*VALUE_EFFECT, size=s),
        dense_mu=rng.uniform(0.5, 3.5, size=d),
        dense_sigma=rng.uniform(0.8, 1.6, size=d),
        dense_missing=rng.choice(_DENSE_MISSING, size=d),
        dense_weight=weights,
    )

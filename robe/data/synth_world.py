"""The synthetic world: users, items, context draws and the planted click model.

logit = bias
      + sum of per-value effects of every sparse value (user, item and context side)
      + a few dense-feature effects
      + affinity(user, item): the dot product of latent vectors, each built from the
        id-like feature (larger for heavy users / popular items) and one coarse
        feature of its side (a "segment" / "category"), so tail users still carry
        learnable interaction signal.
Users and items have FIXED feature values; context features are drawn per row.
Ranks are value indices of a feature (0 = most frequent); -1 marks a missing value,
for dense features too (dense values are non-negative counts).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from robe.data.synth_params import (
    AFFINITY,
    DECAY_SCALE,
    ID_DECAY_SCALE,
    ID_EFFECT,
    ITEM_POPULARITY,
    LATENT_DIM,
    SEGMENT_WEIGHT,
    STREAM_CALIBRATION,
    STREAM_ITEMS,
    STREAM_USERS,
    TARGET_CTR,
    USER_ACTIVITY,
    draw_params,
    id_and_segment,
    side_columns,
)
from robe.data.synth_random import F64, I64, hashed_gaussian, rank_decay, salt, zipf_ranks
from robe.schema import Schema

# Hash purposes for per-value functions.
_P_EFFECT, _P_LATENT = 1, 2


@dataclass(frozen=True)
class Population:
    """Users or items: fixed feature values, summed static effect and latent vector."""

    sparse: I64  # [P, len(side sparse)] ranks, -1 missing
    dense: I64  # [P, len(side dense)] counts, -1 missing
    effect: F64  # [P]
    latent: F64  # [P, LATENT_DIM]

    def __len__(self) -> int:
        return int(self.effect.shape[0])


@dataclass(frozen=True)
class Chunk:
    """Generated rows in schema column order."""

    index: int  # position in its generator stream
    labels: npt.NDArray[np.uint8]  # [n]
    dense: I64  # [n, D]
    sparse: I64  # [n, S] ranks
    logit: F64  # [n] true click logit
    probability: F64  # [n] true click probability, sigmoid(logit)


class World:
    """Everything fixed by (schema, seed, users, items): populations and the click model."""

    def __init__(self, schema: Schema, seed: int, users: int, items: int) -> None:
        self.schema = schema
        self.seed = seed
        self.params = draw_params(schema, seed)
        self.user_dense, self.user_sparse = side_columns(schema, "user")
        self.item_dense, self.item_sparse = side_columns(schema, "item")
        self.ctx_dense, self.ctx_sparse = side_columns(schema, "context")
        self.user_id, self.user_segment = id_and_segment(schema, self.user_sparse)
        self.item_id, self.item_segment = id_and_segment(schema, self.item_sparse)
        self.users = self._population(
            users, STREAM_USERS, self.user_dense, self.user_sparse, self.user_id, self.user_segment
        )
        self.items = self._population(
            items, STREAM_ITEMS, self.item_dense, self.item_sparse, self.item_id, self.item_segment
        )
        self.bias = 0.0  # the calibration sample is drawn without bias
        self.bias = self._calibrate_bias()

    # Effects ---------------------------------------------------------------------------

    def sparse_effect(self, col: int, ranks: I64, decay_scale: float = DECAY_SCALE) -> F64:
        """The planted effect of each value (0 where missing)."""
        amp = ID_EFFECT if col in (self.user_id, self.item_id) else self.params.sparse_amp[col]
        present = ranks >= 0
        safe = np.where(present, ranks, 0)
        g = hashed_gaussian(salt(self.seed, _P_EFFECT, col), safe)
        return np.where(present, amp * rank_decay(safe, decay_scale) * g, 0.0)

    def dense_effect(self, col: int, counts: I64) -> F64:
        w = self.params.dense_weight[col]
        if w == 0.0:
            return np.zeros(counts.shape[0])
        z = (np.log1p(np.maximum(counts, 0)) - self.params.dense_mu[col]) / (
            self.params.dense_sigma[col]
        )
        return np.where(counts >= 0, w * z, 0.0)

    def _latent(self, col: int | None, ranks: I64, decay_scale: float | None) -> F64:
        """Hashed Gaussian vectors per value, optionally shrunk along the rank."""
        out = np.zeros((ranks.shape[0], LATENT_DIM))
        if col is None:
            return out
        present = ranks >= 0
        safe = np.where(present, ranks, 0)
        scale = present * (rank_decay(safe, decay_scale) if decay_scale else 1.0)
        for k in range(LATENT_DIM):
            out[:, k] = scale * hashed_gaussian(salt(self.seed, _P_LATENT, col, k), safe)
        return out

    # Populations and rows --------------------------------------------------------------

    def _draw_sparse(self, rng: np.random.Generator, col: int, count: int) -> I64:
        f = self.schema.sparse[col]
        ranks = zipf_ranks(rng, count, f.size, float(self.params.sparse_exponent[col]))
        missing = rng.random(count) < self.params.sparse_missing[col]
        return np.where(missing, -1, ranks)

    def _draw_dense(self, rng: np.random.Generator, col: int, count: int) -> I64:
        p = self.params
        z = rng.standard_normal(count)
        counts = np.floor(np.exp(p.dense_mu[col] + p.dense_sigma[col] * z)).astype(np.int64) - 1
        missing = rng.random(count) < p.dense_missing[col]
        return np.where(missing, -1, np.maximum(counts, 0))

    def _population(
        self,
        count: int,
        stream: int,
        dense_cols: list[int],
        sparse_cols: list[int],
        id_col: int | None,
        segment_col: int | None,
    ) -> Population:
        rng = np.random.default_rng([self.seed, stream])
        sparse = np.empty((count, len(sparse_cols)), dtype=np.int64)
        dense = np.empty((count, len(dense_cols)), dtype=np.int64)
        effect = np.zeros(count)
        index = np.arange(count, dtype=np.int64)
        for j, col in enumerate(sparse_cols):
            if col == id_col:
                # Index 0 is the most active user / popular item, so ids are Zipf in rows.
                sparse[:, j] = index % self.schema.sparse[col].size
                effect += self.sparse_effect(col, sparse[:, j], ID_DECAY_SCALE)
            else:
                sparse[:, j] = self._draw_sparse(rng, col, count)
                effect += self.sparse_effect(col, sparse[:, j])
        for j, col in enumerate(dense_cols):
            dense[:, j] = self._draw_dense(rng, col, count)
            effect += self.dense_effect(col, dense[:, j])
        latent = self._latent(id_col, index, ID_DECAY_SCALE)
        if segment_col is not None:
            seg = sparse[:, sparse_cols.index(segment_col)]
            latent += SEGMENT_WEIGHT * self._latent(segment_col, seg, None)
        return Population(sparse=sparse, dense=dense, effect=effect, latent=latent)

    def rows(self, stream: int, index: int, count: int) -> Chunk:
        """`count` rows from the generator stream (stream, index); a pure function of them."""
        rng = np.random.default_rng([self.seed, stream, index])
        u = zipf_ranks(rng, count, len(self.users), *USER_ACTIVITY)
        i = zipf_ranks(rng, count, len(self.items), *ITEM_POPULARITY)
        sparse = np.empty((count, self.schema.num_sparse), dtype=np.int64)
        dense = np.empty((count, self.schema.num_dense), dtype=np.int64)
        sparse[:, self.user_sparse] = self.users.sparse[u]
        sparse[:, self.item_sparse] = self.items.sparse[i]
        dense[:, self.user_dense] = self.users.dense[u]
        dense[:, self.item_dense] = self.items.dense[i]
        logit = self.bias + self.users.effect[u] + self.items.effect[i]
        for col in self.ctx_sparse:
            sparse[:, col] = self._draw_sparse(rng, col, count)
            logit += self.sparse_effect(col, sparse[:, col])
        for col in self.ctx_dense:
            dense[:, col] = self._draw_dense(rng, col, count)
            logit += self.dense_effect(col, dense[:, col])
        affinity = np.einsum("nk,nk->n", self.users.latent[u], self.items.latent[i])
        logit += AFFINITY * affinity / np.sqrt(LATENT_DIM)
        probability = 1.0 / (1.0 + np.exp(-logit))
        labels = (rng.random(count) < probability).astype(np.uint8)
        return Chunk(
            index=index,
            labels=labels,
            dense=dense,
            sparse=sparse,
            logit=logit,
            probability=probability,
        )

    def _calibrate_bias(self) -> float:
        """The bias that puts the expected CTR at TARGET_CTR, from a fixed-size sample."""
        logit = self.rows(STREAM_CALIBRATION, 0, 1 << 17).logit
        lo, hi = -20.0, 20.0
        for _ in range(60):
            mid = (lo + hi) / 2.0
            ctr = float(np.mean(1.0 / (1.0 + np.exp(-(logit + mid)))))
            lo, hi = (mid, hi) if ctr < TARGET_CTR else (lo, mid)
        return (lo + hi) / 2.0

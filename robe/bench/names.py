"""The names benchmark options take (no torch import: the CLI parser reads them)."""

from __future__ import annotations

IMPLS = (
    "robe-fused",
    "robe-reference",
    "embedding_bag-concat",
    "embedding_bag-per-table",
    "fbgemm-tbe",
)
PLAIN_IMPLS = IMPLS[2:]
# Candidates measured only when asked for (--impls): the reference compiled by inductor,
# one of the CPU approaches the fused kernels were chosen against.
EXTRA_IMPLS = ("robe-inductor",)
PASSES = ("forward", "train")
SHAPES = ("criteo-kaggle", "criteo-terabyte")
ID_KINDS = ("zipf", "uniform")
EMBEDDINGS = ("robe", "full")

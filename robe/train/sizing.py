"""Warnings about model sizes that train but cannot learn much: said, never silent.

`--compression` divides the plain tables the schema declares, so it means what the user
thinks only when the declared sizes are near the data's real cardinalities; and an
array smaller than a few embedding rows per feature makes every value share almost
all of its parameters with every other.
"""

from __future__ import annotations

import itertools

import numpy as np

from robe.data.rows import Rows
from robe.embeddings import EmbeddingConfig
from robe.keys import PAD_KEY

MIN_ROWS_PER_FEATURE = 4  # array elements / (dim * features) below this: warn
MAX_DECLARED_OVER_OBSERVED = 10.0  # declared / observed distinct values above this: warn


def observed_cardinalities(rows: Rows) -> tuple[int, ...]:
    """Distinct keys per sparse feature (the padding of multi-valued bags not counted)."""
    widths = rows.widths or (1,) * rows.keys.shape[1]
    starts = np.cumsum((0, *widths))
    counts = []
    for start, stop in itertools.pairwise(starts.tolist()):
        values = np.unique(rows.keys[:, start:stop])
        counts.append(int(np.count_nonzero(values != PAD_KEY)))
    return tuple(counts)


def capacity_warnings(config: EmbeddingConfig, observed: tuple[int, ...]) -> list[str]:
    """Plain-language warnings for a ROBE array that is too small for the data."""
    if config.kind != "robe":
        return []
    warnings: list[str] = []
    rows_per_feature = config.robe_size / (config.dim * config.num_tables)
    if rows_per_feature < MIN_ROWS_PER_FEATURE:
        warnings.append(
            f"the ROBE array has {config.robe_size} parameters, {rows_per_feature:.1f} "
            f"embedding rows per feature (dim {config.dim}, {config.num_tables} features): "
            "too few to tell values apart; use a lower --compression or a larger --robe-size"
        )
    declared, seen = sum(config.table_sizes), sum(observed)
    if seen and declared > MAX_DECLARED_OVER_OBSERVED * seen:
        versus_seen = seen * config.dim / config.robe_size
        warnings.append(
            f"the schema declares {declared} values over its sparse features but the training "
            f"rows hold {seen} distinct ones, so --compression {config.compression:.0f} is "
            f"{versus_seen:.2g}x against the values seen; give --robe-size, a lower "
            "--compression, or schema sizes nearer the data"
        )
    return warnings

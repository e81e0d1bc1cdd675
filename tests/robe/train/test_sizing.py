"""Capacity warnings: a ROBE array too small for the features or for the data."""

from __future__ import annotations

import numpy as np

from robe.data.rows import Rows
from robe.embeddings import EmbeddingConfig
from robe.keys import PAD_KEY
from robe.train.sizing import capacity_warnings, observed_cardinalities


def test_a_tiny_array_is_warned_about():
    tiny = EmbeddingConfig.robe_for_compression((10, 10, 10), 8, 1000.0, chunk=8)
    (message,) = capacity_warnings(tiny, (10, 10, 10))
    assert "embedding rows per feature" in message and "--compression" in message


def test_declared_sizes_far_above_the_data_are_warned_about():
    config = EmbeddingConfig.robe_for_compression((1_000_000, 1_000_000), 16, 100.0)
    (message,) = capacity_warnings(config, (500, 700))
    assert "1200 distinct" in message and "--robe-size" in message


def test_a_sensible_array_gets_no_warning():
    config = EmbeddingConfig.robe_for_compression((100_000, 50_000), 16, 10.0)
    assert capacity_warnings(config, (90_000, 40_000)) == []
    assert capacity_warnings(EmbeddingConfig("full", 16, (10, 10)), (1, 1)) == []


def test_observed_cardinalities_count_distinct_keys_per_feature():
    keys = np.array([[1, 5, PAD_KEY], [1, 6, 7], [2, 5, PAD_KEY]], dtype=np.int64)
    rows = Rows(np.zeros(3, np.float32), np.zeros((3, 1), np.float32), keys, (1, 2))
    assert observed_cardinalities(rows) == (2, 3)

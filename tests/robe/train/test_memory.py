from __future__ import annotations

import pytest

from robe.embeddings import EmbeddingConfig
from robe.errors import ResourceError
from robe.schema import load_schema
from robe.train.memory import check_fits


def test_terabyte_plain_tables_are_refused_with_the_numbers():
    sizes = load_schema("criteo-terabyte").table_sizes
    with pytest.raises(
        ResourceError, match=r"need 288\.\d GB .* \(96\.\d GB of tables .* 20\.0 GB available"
    ):
        check_fits(EmbeddingConfig("full", 128, sizes), available_bytes=20 * 10**9)


def test_robe_at_1000x_fits():
    sizes = load_schema("criteo-terabyte").table_sizes
    need = check_fits(
        EmbeddingConfig.robe_for_compression(sizes, 128, 1000), available_bytes=2 * 10**9
    )
    assert need.weight_bytes < 100 * 10**6

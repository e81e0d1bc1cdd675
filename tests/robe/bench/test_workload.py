from __future__ import annotations

import pytest
import torch

from robe.bench.workload import BYTES_PER_PARAM, make_ids, plan_shape
from robe.schema import load_schema


def test_kaggle_fits_whole_under_a_large_budget() -> None:
    shape = plan_shape("criteo-kaggle", 1 << 40)
    assert shape.cap is None
    assert shape.plain_sizes == tuple(load_schema("criteo-kaggle").table_sizes)


def test_terabyte_is_capped_at_the_largest_cap_that_fits() -> None:
    budget = 1 << 30
    shape = plan_shape("criteo-terabyte", budget)
    assert shape.cap is not None
    row = shape.dim * BYTES_PER_PARAM
    assert shape.plain_bytes <= budget
    one_more = sum(min(s, shape.cap + 1) for s in shape.table_sizes) * row
    assert one_more > budget
    assert all(
        p == min(s, shape.cap) for s, p in zip(shape.table_sizes, shape.plain_sizes, strict=True)
    )


@pytest.mark.parametrize("kind", ["zipf", "uniform"])
def test_ids_stay_inside_each_table(kind: str) -> None:
    sizes = (1, 3, 1000, 40_000_000)
    ids = make_ids(kind, 5000, sizes, seed=1)
    assert ids.shape == (5000, 4) and ids.dtype == torch.int64
    assert bool((ids >= 0).all()) and bool((ids < torch.tensor(sizes)).all())


def test_zipf_ids_are_skewed_and_uniform_ids_are_not() -> None:
    sizes = (100_000,)
    zipf = make_ids("zipf", 20_000, sizes, seed=2)[:, 0]
    uniform = make_ids("uniform", 20_000, sizes, seed=2)[:, 0]
    top = torch.bincount(zipf).max().item()
    assert top > 1000  # the most popular id takes several percent of draws
    assert torch.bincount(uniform).max().item() < 10


def test_unknown_id_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="gauss"):
        make_ids("gauss", 1, (10,), seed=0)

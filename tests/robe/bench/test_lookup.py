from __future__ import annotations

import pytest
import torch

from robe.bench.lookup import LookupBenchConfig, run
from robe.bench.names import PLAIN_IMPLS

TINY = {
    "shapes": ("criteo-kaggle",),
    "batches": (8,),
    "repeats": 1,
    "warmup": 0,
    "plain_budget_bytes": 32 << 20,
}


def test_a_tiny_matrix_gives_every_case_with_the_required_fields() -> None:
    impls = ("robe-fused", "robe-reference", "embedding_bag-concat", "embedding_bag-per-table")
    result = run(LookupBenchConfig(impls=impls, **TINY))  # type: ignore[arg-type]
    assert result["machine"]["description"]
    cases = result["cases"]
    assert len(cases) == len(impls) * 2 * 2  # impls x ids x passes
    for case in cases:
        assert case["lookups_per_s"] > 0 and case["embedding_bytes"] > 0
        assert case["device"] == "cpu" and case["dim"] == 16 and case["batch"] == 8
    robe = next(c for c in cases if c["impl"] == "robe-fused")
    plain = next(c for c in cases if c["impl"] in PLAIN_IMPLS)
    assert plain["embedding_bytes"] <= 32 << 20 < plain["embedding_bytes"] * 1.01 + (1 << 20)
    assert robe["embedding_bytes"] * 900 < result["shapes"][0]["full_plain_bytes"]


def test_impls_compute_the_same_bags() -> None:
    # Like is compared with like: plain impls give the bags of the capped tables, and the
    # two ROBE impls agree with each other.
    from robe.bench.impls import (
        EmbeddingBagConcat,
        EmbeddingBagPerTable,
        FbgemmTBE,
        PlainTables,
        Robe,
    )
    from robe.bench.workload import make_ids, plan_shape

    shape = plan_shape("criteo-kaggle", 8 << 20)
    cpu = torch.device("cpu")
    tables = PlainTables(shape, cpu)
    ids = make_ids("zipf", 5, shape.table_sizes, seed=3)
    rows = (tables.local(ids) + tables.starts).reshape(-1)
    want = tables.weight[rows].reshape(5, -1)
    for impl in (EmbeddingBagConcat(tables), EmbeddingBagPerTable(tables)):
        torch.testing.assert_close(impl.forward(ids, train=False)().reshape(5, -1), want)
    try:
        tbe = FbgemmTBE(shape, cpu)
    except (ImportError, OSError, RuntimeError):
        tbe = None
    if tbe is not None:
        assert tbe.forward(ids, train=False)().shape == (5, shape.num_tables * shape.dim)
    fused, ref = (Robe(shape, 1000, 16, cpu, fused=f) for f in (True, False))
    ref.weight = fused.weight
    torch.testing.assert_close(fused.forward(ids, False)(), ref.forward(ids, False)())


@pytest.mark.parametrize(
    ("field", "value"), [("impls", ("faiss",)), ("shapes", ("avazu",)), ("batches", (0,))]
)
def test_bad_config_names_the_bad_value(field: str, value: tuple[object, ...]) -> None:
    with pytest.raises(ValueError, match=str(value[0])):
        LookupBenchConfig(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("chunk", [0, 24])
def test_a_chunk_that_does_not_divide_a_dim_is_refused(chunk: int) -> None:
    with pytest.raises(ValueError, match=f"chunk {chunk} "):
        LookupBenchConfig(chunk=chunk)
    LookupBenchConfig(chunk=32)  # 16 at the Kaggle shape, 32 at the terabyte one

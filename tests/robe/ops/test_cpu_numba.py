from __future__ import annotations

import pytest
import torch

from robe.ops import cpu_load, cpu_numba, reference, threads
from tests.robe.ops.cases import Bags, adversarial, coeffs, one_value_per_bag, random_bags


def _split(monkeypatch: pytest.MonkeyPatch, split: bool) -> None:
    """Every call on the pool's threads too, in parts of a few bags (split), or on the
    calling thread alone."""
    monkeypatch.setattr(threads, "SPLIT_WORK", 1 if split else 1 << 60)
    monkeypatch.setattr(threads, "PART_WORK", 64)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    monkeypatch.setattr(cpu_load, "free_cores", lambda total: 3.0)  # however loaded


LAYOUTS = [(16, 16), (128, 16), (32, 8), (12, 3)]  # (dim, Z): the unrolled Z=16 and others
CASES = [
    adversarial(),
    random_bags(0, rows=40, num_tables=26),
    random_bags(1, rows=7, num_tables=2, max_len=9),
    random_bags(2, rows=20, num_tables=26, max_len=12),  # blocks outgrow the scratch
    one_value_per_bag(3, rows=1000, num_tables=26),  # many pipelined blocks, split parts
    one_value_per_bag(4, rows=3, num_tables=5),  # one partial block
]


def _tables(bags: Bags) -> torch.Tensor:
    return reference.bag_ids(bags.offsets, bags.values.numel()) % bags.num_tables


@pytest.mark.parametrize("bags", CASES)
@pytest.mark.parametrize("array_slots", [1, 2, 1000, 2**31 - 1])
@pytest.mark.parametrize("split", [False, True], ids=["one-thread", "claimed-parts"])
def test_slots_bit_identical(
    bags: Bags, array_slots: int, split: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    _split(monkeypatch, split)
    got = cpu_numba.slots(bags.values, bags.offsets, bags.num_tables, 5, array_slots, coeffs(5))
    want = reference.slots(bags.values, _tables(bags), 5, array_slots, coeffs(5))
    assert got.dtype == torch.int64
    assert torch.equal(got, want)


@pytest.mark.parametrize("bags", CASES)
@pytest.mark.parametrize(("dim", "chunk"), LAYOUTS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("split", [False, True], ids=["one-thread", "claimed-parts"])
def test_forward_matches_reference(
    bags: Bags,
    dim: int,
    chunk: int,
    dtype: torch.dtype,
    split: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _split(monkeypatch, split)
    weight = torch.randn(997, dtype=dtype)
    args = (bags.values, bags.offsets, bags.num_tables, dim, chunk, coeffs(dim // chunk))
    got = cpu_numba.lookup(weight, *args)
    want = reference.lookup(weight, *args)
    assert got.dtype == dtype
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("bags", CASES)
@pytest.mark.parametrize(("dim", "chunk"), LAYOUTS)
@pytest.mark.parametrize("split", [False, True], ids=["one-thread", "private-copies"])
def test_backward_matches_reference(
    bags: Bags, dim: int, chunk: int, split: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    _split(monkeypatch, split)
    grad = torch.randn(bags.offsets.numel() - 1, dim, dtype=torch.float64)
    args = (bags.values, bags.offsets, 997, bags.num_tables, dim, chunk, coeffs(dim // chunk))
    want = reference.lookup_backward(grad, *args)
    torch.testing.assert_close(cpu_numba.lookup_backward(grad, *args), want)


def test_thread_split_gives_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """The forward bit for bit; the backward within rounding (the copies sum in another
    order), and the same bits on every call."""
    bags = random_bags(2, rows=300, num_tables=26)
    weight = torch.randn(5000, dtype=torch.float64)
    grad = torch.randn(bags.offsets.numel() - 1, 32, dtype=torch.float64)
    fwd = (bags.values, bags.offsets, bags.num_tables, 32, 16, coeffs(2))
    bwd = (bags.values, bags.offsets, 5000, bags.num_tables, 32, 16, coeffs(2))
    _split(monkeypatch, True)
    split = cpu_numba.lookup(weight, *fwd), cpu_numba.lookup_backward(grad, *bwd)
    assert torch.equal(cpu_numba.lookup_backward(grad, *bwd), split[1])
    _split(monkeypatch, False)
    whole = cpu_numba.lookup(weight, *fwd), cpu_numba.lookup_backward(grad, *bwd)
    assert torch.equal(split[0], whole[0])
    torch.testing.assert_close(split[1], whole[1])


def test_large_arrays_take_the_one_thread_backward(monkeypatch: pytest.MonkeyPatch) -> None:
    bags = random_bags(3, rows=50, num_tables=26)
    grad = torch.randn(bags.offsets.numel() - 1, 16, dtype=torch.float64)
    args = (bags.values, bags.offsets, 5000, bags.num_tables, 16, 16, coeffs(1))
    _split(monkeypatch, True)
    monkeypatch.setattr(cpu_numba, "PRIVATE_GRADIENT_MAX", 4999)
    monkeypatch.setattr(threads, "run_parts", None)  # would fail if called
    torch.testing.assert_close(
        cpu_numba.lookup_backward(grad, *args), reference.lookup_backward(grad, *args)
    )


@pytest.mark.parametrize(
    "offsets",
    [[1, 2, 3], [0, 2, 1, 3], [0, 1, 2], [0, 1, 2, 4]],
    ids=["start", "falls", "short", "long"],
)
def test_bad_offsets_raise_instead_of_reading_out_of_bounds(offsets: list[int]) -> None:
    values = torch.arange(3, dtype=torch.int64)
    with pytest.raises(ValueError, match="offsets"):
        cpu_numba.lookup(torch.randn(64), values, torch.tensor(offsets), 1, 16, 16, coeffs(1))


@pytest.mark.parametrize(("size", "dim", "chunk"), [(64, 16, 5), (8, 16, 16), (64, 16, 0)])
def test_bad_layout_raises_instead_of_reading_out_of_bounds(
    size: int, dim: int, chunk: int
) -> None:
    values = torch.arange(2, dtype=torch.int64)
    offsets = torch.tensor([0, 1, 2])
    with pytest.raises(ValueError, match="chunk"):
        cpu_numba.lookup(torch.randn(size), values, offsets, 1, dim, chunk, coeffs(1))
    with pytest.raises(ValueError, match="chunk"):
        cpu_numba.lookup_backward(
            torch.randn(2, dim), values, offsets, size, 1, dim, chunk, coeffs(1)
        )


@pytest.mark.parametrize(
    ("offsets", "layout"),
    [
        ([0, 1, 2, 3], cpu_numba.SINGLES),
        ([0, 0, 2, 3], cpu_numba.BAGS),  # an empty bag and a bag of two
        ([0, 1, 1, 3], cpu_numba.BAGS),
        ([0, 2, 1, 3], cpu_numba.INVALID),
        ([1, 2, 3], cpu_numba.INVALID),
        ([0, 1, 2], cpu_numba.INVALID),
        ([], cpu_numba.INVALID),
    ],
)
def test_layout_finds_one_value_bags_only_when_every_bag_has_one(
    offsets: list[int], layout: int
) -> None:
    assert cpu_numba._layout(torch.tensor(offsets, dtype=torch.int64).numpy(), 3) == layout


def test_split_one_value_bags_match_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts of the fast path start mid-row (bag_lo not a multiple of the table count)."""
    bags = one_value_per_bag(5, rows=333, num_tables=26)
    weight = torch.randn(5000)
    _split(monkeypatch, True)
    for dim in (128, 16):  # the wide and the one-chunk fast paths
        args = (bags.values, bags.offsets, bags.num_tables, dim, 16, coeffs(dim // 16))
        torch.testing.assert_close(cpu_numba.lookup(weight, *args), reference.lookup(weight, *args))


def test_backward_bits_do_not_depend_on_the_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Busy cores run the private-gradient parts one after another on the caller: the
    same parts, so the same sums."""
    bags = random_bags(4, rows=200, num_tables=26)
    grad = torch.randn(bags.offsets.numel() - 1, 16)
    args = (bags.values, bags.offsets, 3000, bags.num_tables, 16, 16, coeffs(1))
    _split(monkeypatch, True)
    free = cpu_numba.lookup_backward(grad, *args)
    monkeypatch.setattr(cpu_load, "free_cores", lambda total: 0.0)
    assert torch.equal(cpu_numba.lookup_backward(grad, *args), free)

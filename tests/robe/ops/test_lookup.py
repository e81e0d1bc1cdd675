"""The registered op against the spec, opcheck and gradcheck."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.library import opcheck

import robe.ops  # noqa: F401
from robe.hashing import HashParams, RobeLayout, slots_numpy
from robe.ops import check_bags

ADVERSARIAL = [0, 0, -1, 2**63 - 1, -(2**63), 7, 7, 7, 2**32 - 1, -123456789]


def _bags(num_rows: int, num_tables: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random bag lengths 0..3 (empty bags included) with random and adversarial values."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(0, 4, (num_rows * num_tables,), generator=gen)
    offsets = torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(lengths, 0)])
    n = int(offsets[-1])
    values = torch.randint(-(2**62), 2**62, (n,), generator=gen)
    values[: min(n, len(ADVERSARIAL))] = torch.tensor(ADVERSARIAL[: min(n, len(ADVERSARIAL))])
    return values, offsets


def _naive_lookup(
    weight: torch.Tensor,
    bags: tuple[torch.Tensor, torch.Tensor],
    num_tables: int,
    layout: RobeLayout,
    params: HashParams,
) -> np.ndarray:
    """Per-element loops straight from docs/hashing.md, numpy side."""
    values, offsets = bags
    dim, chunk = layout.dim, layout.chunk
    out = np.zeros((offsets.numel() - 1, dim))
    w = weight.detach().double().numpy()
    for bag in range(offsets.numel() - 1):
        for v in values[offsets[bag] : offsets[bag + 1]].tolist():
            s = slots_numpy(np.array([v]), np.array([bag % num_tables]), layout, params)[0]
            for i in range(dim):
                out[bag, i] += w[s[i // chunk] + i % chunk]
    return out


@pytest.mark.parametrize(("dim", "chunk"), [(8, 4), (8, 8), (6, 1)])
def test_lookup_matches_spec(dim, chunk):
    values, offsets = _bags(5, 3)
    params = HashParams.from_seed(dim // chunk)
    weight = torch.randn(997)
    got = torch.ops.robe.lookup(weight, values, offsets, 3, dim, chunk, params.coefficients)
    want = _naive_lookup(weight, (values, offsets), 3, RobeLayout(997, dim, chunk), params)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)
    empty = (offsets[1:] == offsets[:-1]).nonzero().flatten()
    assert empty.numel() > 0 and (got[empty] == 0).all()


def test_slots_op_matches_numpy():
    values, offsets = _bags(6, 4, seed=3)
    params = HashParams.from_seed(2)
    layout = RobeLayout(5000, 8, 4)
    got = torch.ops.robe.slots(values, offsets, 4, 2, layout.slots, params.coefficients)
    tables = torch.repeat_interleave(torch.arange(24), offsets[1:] - offsets[:-1]) % 4
    want = slots_numpy(values.numpy(), tables.numpy(), layout, params)
    np.testing.assert_array_equal(got.numpy(), want)


def test_opcheck_passes():
    values, offsets = _bags(4, 2)
    coeffs = HashParams.from_seed(2).coefficients
    weight = torch.randn(300, requires_grad=True)
    opcheck(torch.ops.robe.lookup.default, (weight, values, offsets, 2, 8, 4, coeffs))
    opcheck(torch.ops.robe.slots.default, (values, offsets, 2, 2, 297, coeffs))


def test_gradcheck():
    values, offsets = _bags(3, 2, seed=1)
    coeffs = HashParams.from_seed(2).coefficients
    weight = torch.randn(64, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda w: torch.ops.robe.lookup(w, values, offsets, 2, 8, 4, coeffs), (weight,)
    )


def test_check_bags_refuses_bad_layouts():
    with pytest.raises(ValueError, match="int64"):
        check_bags(torch.zeros(3, dtype=torch.int32), torch.arange(4), 3)
    with pytest.raises(ValueError, match="multiple of 2 tables"):
        check_bags(torch.zeros(3, dtype=torch.int64), torch.arange(4), 2)

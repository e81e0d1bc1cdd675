from __future__ import annotations

import pytest
import torch

import robe.ops  # noqa: F401  (registers torch.ops.robe)
from robe.ops import reference
from tests.robe.ops.cases import Bags, adversarial, coeffs, random_bags

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

CASES = [
    adversarial(),
    random_bags(0, rows=300, num_tables=26),
    random_bags(1, rows=9, num_tables=2, max_len=9),
]


def _cuda(bags: Bags) -> tuple[torch.Tensor, torch.Tensor]:
    return bags.values.cuda(), bags.offsets.cuda()


@pytest.mark.parametrize("bags", CASES)
@pytest.mark.parametrize("array_slots", [1, 1000, 2**31 - 1])
def test_slots_bit_identical(bags: Bags, array_slots: int) -> None:
    from robe.ops import triton_kernels

    tables = reference.bag_ids(bags.offsets, bags.values.numel()) % bags.num_tables
    want = reference.slots(bags.values, tables, 5, array_slots, coeffs(5))
    got = triton_kernels.slots(*_cuda(bags), bags.num_tables, 5, array_slots, coeffs(5))
    assert torch.equal(got.cpu(), want)


@pytest.mark.parametrize("bags", CASES)
@pytest.mark.parametrize(("dim", "chunk"), [(16, 16), (128, 16), (12, 3)])
def test_forward_and_backward_match_reference(bags: Bags, dim: int, chunk: int) -> None:
    from robe.ops import triton_kernels

    weight = torch.randn(997)
    grad = torch.randn(bags.offsets.numel() - 1, dim)
    values, offsets = _cuda(bags)
    got = triton_kernels.lookup(
        weight.cuda(), values, offsets, bags.num_tables, dim, chunk, coeffs(dim // chunk)
    )
    want = reference.lookup(
        weight, bags.values, bags.offsets, bags.num_tables, dim, chunk, coeffs(dim // chunk)
    )
    torch.testing.assert_close(got.cpu(), want)
    got_grad = triton_kernels.lookup_backward(
        grad.cuda(), values, offsets, 997, bags.num_tables, dim, chunk, coeffs(dim // chunk)
    )
    want_grad = reference.lookup_backward(
        grad, bags.values, bags.offsets, 997, bags.num_tables, dim, chunk, coeffs(dim // chunk)
    )
    torch.testing.assert_close(got_grad.cpu(), want_grad, rtol=1e-5, atol=1e-5)


def test_op_dispatches_to_triton_on_cuda() -> None:
    from robe.ops import kernels, triton_kernels

    assert kernels.fast_module(torch.device("cuda"), torch.float32) is triton_kernels


def test_gradcheck_on_cuda_in_float32_against_reference() -> None:
    bags = random_bags(5, rows=64, num_tables=26)
    values, offsets = _cuda(bags)
    weight = torch.randn(3000, device="cuda", requires_grad=True)
    out = torch.ops.robe.lookup(weight, values, offsets, 26, 32, 16, coeffs(2))
    grad = torch.randn_like(out)
    out.backward(grad)
    want = reference.lookup_backward(
        grad.cpu(), bags.values, bags.offsets, 3000, 26, 32, 16, coeffs(2)
    )
    assert weight.grad is not None
    torch.testing.assert_close(weight.grad.cpu(), want, rtol=1e-5, atol=1e-5)

"""The Triton kernels against the reference op: on a CUDA device where there is one, else
on CPU tensors under Triton's interpreter (TRITON_INTERPRET=1), so they run in `make test`."""

from __future__ import annotations

from types import ModuleType

import pytest
import torch

import robe.ops  # noqa: F401  (registers torch.ops.robe)
from robe.ops import reference
from tests.robe.ops.cases import Bags, adversarial, coeffs, random_bags

CUDA = torch.cuda.is_available()
DEVICE = "cuda" if CUDA else "cpu"
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device (dispatch, autograd)")

CASES = [
    adversarial(),
    # The interpreter runs each program in Python: a fifth of the rows keeps it to seconds.
    random_bags(0, rows=300 if CUDA else 60, num_tables=26),
    random_bags(1, rows=9, num_tables=2, max_len=9),
]


@pytest.fixture(scope="module")
def triton_kernels() -> ModuleType:
    """The kernel module; without CUDA, only under the interpreter, which tests/conftest.py
    turns on before torch (and with it triton) is first imported."""
    pytest.importorskip("triton", reason="triton is in the dev extra")
    from robe.ops import triton_kernels as module

    if not CUDA and type(module._forward_kernel).__name__ != "InterpretedFunction":
        pytest.skip("no CUDA device and TRITON_INTERPRET=1 not set before triton loaded")
    return module


def _on_device(bags: Bags) -> tuple[torch.Tensor, torch.Tensor]:
    return bags.values.to(DEVICE), bags.offsets.to(DEVICE)


def _summation_bound(
    grad: torch.Tensor, bags: Bags, array_size: int, dim: int, chunk: int
) -> torch.Tensor:
    """Per element of the array gradient, how far two float32 sums of the same terms in
    different orders may differ: each is within (n - 1) * u * sum|term| of the exact sum
    (Higham, Accuracy and Stability, 4.2), n terms per element, u = 2**-24. The kernel
    adds with atomics in whatever order the blocks run; the reference adds in index order.
    """
    args = (bags.values, bags.offsets, array_size, bags.num_tables, dim, chunk)
    magnitude = reference.lookup_backward(grad.abs(), *args, coeffs(dim // chunk))
    terms = reference.lookup_backward(torch.ones_like(grad), *args, coeffs(dim // chunk))
    u = torch.finfo(torch.float32).eps / 2
    return 2 * (terms - 1).clamp(min=0) * u * magnitude


@pytest.mark.parametrize("bags", CASES)
@pytest.mark.parametrize("array_slots", [1, 1000, 2**31 - 1])
def test_slots_bit_identical(triton_kernels: ModuleType, bags: Bags, array_slots: int) -> None:
    tables = reference.bag_ids(bags.offsets, bags.values.numel()) % bags.num_tables
    want = reference.slots(bags.values, tables, 5, array_slots, coeffs(5))
    got = triton_kernels.slots(*_on_device(bags), bags.num_tables, 5, array_slots, coeffs(5))
    assert torch.equal(got.cpu(), want)


@pytest.mark.parametrize("bags", CASES)
@pytest.mark.parametrize(("dim", "chunk"), [(16, 16), (128, 16), (12, 3)])
def test_forward_and_backward_match_reference(
    triton_kernels: ModuleType, bags: Bags, dim: int, chunk: int
) -> None:
    weight = torch.randn(997)
    grad = torch.randn(bags.offsets.numel() - 1, dim)
    values, offsets = _on_device(bags)
    got = triton_kernels.lookup(
        weight.to(DEVICE), values, offsets, bags.num_tables, dim, chunk, coeffs(dim // chunk)
    )
    want = reference.lookup(
        weight, bags.values, bags.offsets, bags.num_tables, dim, chunk, coeffs(dim // chunk)
    )
    torch.testing.assert_close(got.cpu(), want)
    got_grad = triton_kernels.lookup_backward(
        grad.to(DEVICE), values, offsets, 997, bags.num_tables, dim, chunk, coeffs(dim // chunk)
    )
    want_grad = reference.lookup_backward(
        grad, bags.values, bags.offsets, 997, bags.num_tables, dim, chunk, coeffs(dim // chunk)
    )
    excess = (got_grad.cpu() - want_grad).abs() - _summation_bound(grad, bags, 997, dim, chunk)
    assert float(excess.max()) <= 0.0, f"beyond float32 summation error by {excess.max():.3g}"


@needs_cuda
def test_op_dispatches_to_triton_on_cuda() -> None:
    from robe.ops import kernels, triton_kernels

    assert kernels.fast_module(torch.device("cuda"), torch.float32) is triton_kernels


@needs_cuda
def test_gradcheck_on_cuda_in_float32_against_reference() -> None:
    bags = random_bags(5, rows=64, num_tables=26)
    values, offsets = _on_device(bags)
    weight = torch.randn(3000, device="cuda", requires_grad=True)
    out = torch.ops.robe.lookup(weight, values, offsets, 26, 32, 16, coeffs(2))
    grad = torch.randn_like(out)
    out.backward(grad)
    want = reference.lookup_backward(
        grad.cpu(), bags.values, bags.offsets, 3000, 26, 32, 16, coeffs(2)
    )
    assert weight.grad is not None
    torch.testing.assert_close(weight.grad.cpu(), want, rtol=1e-5, atol=1e-5)

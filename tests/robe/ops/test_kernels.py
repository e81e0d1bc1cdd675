from __future__ import annotations

import logging

import pytest
import torch

import robe.ops  # noqa: F401  (registers torch.ops.robe)
from robe.ops import cpu_numba, kernels, reference
from tests.robe.ops.cases import adversarial, coeffs, random_bags


def test_cpu_uses_the_numba_kernels_without_logging(caplog: pytest.LogCaptureFixture) -> None:
    kernels._fast_module.cache_clear()
    with caplog.at_level(logging.WARNING):
        assert kernels.fast_module(torch.device("cpu"), torch.float32) is cpu_numba
    assert not caplog.records


def test_unsupported_dtype_falls_back_to_the_reference() -> None:
    assert kernels.fast_module(torch.device("cpu"), torch.bfloat16) is None
    weight = torch.randn(500, dtype=torch.bfloat16)
    bags = random_bags(3, rows=4, num_tables=2)
    args = (bags.values, bags.offsets, 2, 16, 16, coeffs(1))
    got = torch.ops.robe.lookup(weight, *args)
    torch.testing.assert_close(got, reference.lookup(weight, *args))


def test_missing_kernels_fall_back_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import builtins

    real_import = builtins.__import__

    def no_numba(name: str, *args: object, **kwargs: object) -> object:
        if name == "robe.ops" and "cpu_numba" in (args[2] or ()):  # type: ignore[operator]
            raise ImportError("No module named 'numba'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    kernels._fast_module.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_numba)
    bags = adversarial()
    weight = torch.randn(300)
    with caplog.at_level(logging.WARNING, logger="robe.ops.kernels"):
        for _ in range(3):
            out = torch.ops.robe.lookup(weight, bags.values, bags.offsets, 3, 16, 16, coeffs(1))
    monkeypatch.undo()
    kernels._fast_module.cache_clear()
    warnings = [r for r in caplog.records if "slower" in r.getMessage()]
    assert len(warnings) == 1
    torch.testing.assert_close(
        out, reference.lookup(weight, bags.values, bags.offsets, 3, 16, 16, coeffs(1))
    )


@pytest.mark.parametrize(("dim", "chunk"), [(4, 2), (6, 3)])
def test_gradcheck_through_the_op(dim: int, chunk: int) -> None:
    bags = adversarial()
    weight = torch.randn(23, dtype=torch.float64, requires_grad=True)

    def fn(w: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = torch.ops.robe.lookup(
            w, bags.values, bags.offsets, 3, dim, chunk, coeffs(dim // chunk)
        )
        return out

    assert torch.autograd.gradcheck(fn, (weight,))


def test_op_gradient_matches_reference_backward() -> None:
    bags = random_bags(4, rows=50, num_tables=26)
    weight = torch.randn(4000, requires_grad=True)
    out = torch.ops.robe.lookup(weight, bags.values, bags.offsets, 26, 32, 16, coeffs(2))
    grad = torch.randn_like(out)
    out.backward(grad)
    want = reference.lookup_backward(grad, bags.values, bags.offsets, 4000, 26, 32, 16, coeffs(2))
    assert weight.grad is not None
    torch.testing.assert_close(weight.grad, want)

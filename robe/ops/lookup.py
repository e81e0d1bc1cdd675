"""The registered custom operators `torch.ops.robe.*`.

- `robe::lookup(weight, values, offsets, num_tables, dim, chunk, coeffs) -> [bags, dim]`
- `robe::lookup_backward(grad, values, offsets, array_size, num_tables, dim, chunk, coeffs)`
- `robe::slots(values, offsets, num_tables, num_chunks, array_slots, coeffs) -> [N, chunks]`

`coeffs` is `HashParams.coefficients` ([b, a0..a4]). Device kernels are chosen in
`robe.ops.kernels`; the plain-torch reference is the fallback and the oracle.
"""

from __future__ import annotations

from typing import Any

import torch

from robe.ops import kernels, reference


def check_bags(values: torch.Tensor, offsets: torch.Tensor, num_tables: int) -> None:
    """Validate a bag layout (cheap checks only; contents are the caller's contract)."""
    if values.dtype != torch.int64 or offsets.dtype != torch.int64:
        raise ValueError(f"values and offsets must be int64, got {values.dtype}, {offsets.dtype}")
    if values.dim() != 1 or offsets.dim() != 1:
        raise ValueError("values and offsets must be 1-D")
    if num_tables <= 0:
        raise ValueError(f"num_tables must be positive, got {num_tables}")
    if (offsets.numel() - 1) % num_tables:
        raise ValueError(
            f"offsets describe {offsets.numel() - 1} bags, not a multiple of {num_tables} tables"
        )


@torch.library.custom_op("robe::slots", mutates_args=())
def slots(
    values: torch.Tensor,
    offsets: torch.Tensor,
    num_tables: int,
    num_chunks: int,
    array_slots: int,
    coeffs: list[int],
) -> torch.Tensor:
    tables = reference.bag_ids(offsets, values.numel()) % num_tables
    return reference.slots(values, tables, num_chunks, array_slots, coeffs)


@slots.register_fake
def _slots_fake(
    values: torch.Tensor,
    offsets: torch.Tensor,
    num_tables: int,
    num_chunks: int,
    array_slots: int,
    coeffs: list[int],
) -> torch.Tensor:
    return values.new_empty(values.shape[0], num_chunks)


@torch.library.custom_op("robe::lookup", mutates_args=())
def lookup(
    weight: torch.Tensor,
    values: torch.Tensor,
    offsets: torch.Tensor,
    num_tables: int,
    dim: int,
    chunk: int,
    coeffs: list[int],
) -> torch.Tensor:
    check_bags(values, offsets, num_tables)
    return kernels.forward(weight, values, offsets, num_tables, dim, chunk, coeffs)


@lookup.register_fake
def _lookup_fake(
    weight: torch.Tensor,
    values: torch.Tensor,
    offsets: torch.Tensor,
    num_tables: int,
    dim: int,
    chunk: int,
    coeffs: list[int],
) -> torch.Tensor:
    return weight.new_empty(offsets.shape[0] - 1, dim)


@torch.library.custom_op("robe::lookup_backward", mutates_args=())
def lookup_backward(
    grad: torch.Tensor,
    values: torch.Tensor,
    offsets: torch.Tensor,
    array_size: int,
    num_tables: int,
    dim: int,
    chunk: int,
    coeffs: list[int],
) -> torch.Tensor:
    return kernels.backward(
        grad.contiguous(), values, offsets, array_size, num_tables, dim, chunk, coeffs
    )


@lookup_backward.register_fake
def _lookup_backward_fake(
    grad: torch.Tensor,
    values: torch.Tensor,
    offsets: torch.Tensor,
    array_size: int,
    num_tables: int,
    dim: int,
    chunk: int,
    coeffs: list[int],
) -> torch.Tensor:
    return grad.new_empty(array_size)


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
    weight, values, offsets, num_tables, dim, chunk, coeffs = inputs
    ctx.save_for_backward(values, offsets)
    ctx.array_size = weight.shape[0]
    ctx.hash_args = (num_tables, dim, chunk, coeffs)


def _backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
    values, offsets = ctx.saved_tensors
    num_tables, dim, chunk, coeffs = ctx.hash_args
    grad_weight = None
    if ctx.needs_input_grad[0]:
        grad_weight = lookup_backward(
            grad, values, offsets, ctx.array_size, num_tables, dim, chunk, coeffs
        )
    return grad_weight, None, None, None, None, None, None


lookup.register_autograd(_backward, setup_context=_setup_context)

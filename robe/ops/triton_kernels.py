"""Fused ROBE-Z lookup kernels for CUDA, in Triton (imported only when a CUDA tensor
reaches the lookup, so Triton is never needed on CPU).

Each program takes a block of bags and one chunk: it hashes the block's values once
for that chunk, loads `Z` contiguous array elements per value as one vector and sums
the bags in registers. Backward is the same walk with atomic adds into the gradient.
The hash is docs/hashing.md's, in int64 (every intermediate is below 2**56).
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl

SUPPORTED_DTYPES = (torch.float32,)
BLOCK_BAGS = 64
NUM_WARPS = 4


def require_triton() -> None:
    """Importing this module already needed Triton; also make sure it has a GPU backend."""
    if not hasattr(triton, "jit"):
        raise ImportError("triton has no jit")


@triton.jit  # type: ignore[untyped-decorator]
def _start(x: Any, table: Any, coeffs_ptr: Any, c: Any, slots: Any) -> Any:
    """Start slot of chunk `c` of keys `x` in tables `table`; coeffs is [chunks, 5] int64."""
    row = coeffs_ptr + c * 5
    h = (
        tl.load(row)
        + tl.load(row + 1) * (x & 0x1FFFFF)
        + tl.load(row + 2) * ((x >> 21) & 0x1FFFFF)
        + tl.load(row + 3) * ((x >> 42) & 0x3FFFFF)
        + tl.load(row + 4) * table
    )
    # Fold mod P = 2**31 - 1 (a Mersenne prime), then the one modulo that needs dividing.
    h = (h & 0x7FFFFFFF) + (h >> 31)
    h = (h & 0x7FFFFFFF) + (h >> 31)
    h = tl.where(h >= 0x7FFFFFFF, h - 0x7FFFFFFF, h)
    return h % slots


@triton.jit  # type: ignore[untyped-decorator]
def _bag_block(offsets_ptr: Any, num_bags: Any, num_tables: Any, BLOCK_BAGS: tl.constexpr) -> Any:
    bags = tl.program_id(0).to(tl.int64) * BLOCK_BAGS + tl.arange(0, BLOCK_BAGS)
    bag_ok = bags < num_bags
    first = tl.load(offsets_ptr + bags, mask=bag_ok, other=0)
    length = tl.load(offsets_ptr + bags + 1, mask=bag_ok, other=0) - first
    return bags, bag_ok, first, length, bags % num_tables


@triton.jit  # type: ignore[untyped-decorator]
def _forward_kernel(
    weight_ptr: Any,
    values_ptr: Any,
    offsets_ptr: Any,
    out_ptr: Any,
    num_bags: Any,
    num_tables: Any,
    slots: Any,
    dim: Any,
    coeffs_ptr: Any,
    CHUNK: tl.constexpr,
    BLOCK_Z: tl.constexpr,
    BLOCK_BAGS: tl.constexpr,
) -> None:
    bags, bag_ok, first, length, table = _bag_block(offsets_ptr, num_bags, num_tables, BLOCK_BAGS)
    c = tl.program_id(1).to(tl.int64)
    k = tl.arange(0, BLOCK_Z)
    k_ok = k < CHUNK
    acc = tl.zeros((BLOCK_BAGS, BLOCK_Z), dtype=tl.float32)
    for i in range(0, tl.max(length, axis=0)):
        live = bag_ok & (i < length)
        x = tl.load(values_ptr + first + i, mask=live, other=0)
        s = _start(x, table, coeffs_ptr, c, slots)
        mask = live[:, None] & k_ok[None, :]
        acc += tl.load(weight_ptr + s[:, None] + k[None, :], mask=mask, other=0.0)
    out = out_ptr + bags[:, None] * dim + c * CHUNK + k[None, :]
    tl.store(out, acc, mask=bag_ok[:, None] & k_ok[None, :])


@triton.jit  # type: ignore[untyped-decorator]
def _backward_kernel(
    grad_ptr: Any,
    values_ptr: Any,
    offsets_ptr: Any,
    out_ptr: Any,
    num_bags: Any,
    num_tables: Any,
    slots: Any,
    dim: Any,
    coeffs_ptr: Any,
    CHUNK: tl.constexpr,
    BLOCK_Z: tl.constexpr,
    BLOCK_BAGS: tl.constexpr,
) -> None:
    bags, bag_ok, first, length, table = _bag_block(offsets_ptr, num_bags, num_tables, BLOCK_BAGS)
    c = tl.program_id(1).to(tl.int64)
    k = tl.arange(0, BLOCK_Z)
    k_ok = k < CHUNK
    g = tl.load(
        grad_ptr + bags[:, None] * dim + c * CHUNK + k[None, :],
        mask=bag_ok[:, None] & k_ok[None, :],
        other=0.0,
    )
    for i in range(0, tl.max(length, axis=0)):
        live = bag_ok & (i < length)
        x = tl.load(values_ptr + first + i, mask=live, other=0)
        s = _start(x, table, coeffs_ptr, c, slots)
        tl.atomic_add(out_ptr + s[:, None] + k[None, :], g, mask=live[:, None] & k_ok[None, :])


@triton.jit  # type: ignore[untyped-decorator]
def _slots_kernel(
    values_ptr: Any,
    offsets_ptr: Any,
    out_ptr: Any,
    num_bags: Any,
    num_tables: Any,
    slots: Any,
    num_chunks: Any,
    coeffs_ptr: Any,
    BLOCK_BAGS: tl.constexpr,
) -> None:
    _, bag_ok, first, length, table = _bag_block(offsets_ptr, num_bags, num_tables, BLOCK_BAGS)
    c = tl.program_id(1).to(tl.int64)
    for i in range(0, tl.max(length, axis=0)):
        live = bag_ok & (i < length)
        x = tl.load(values_ptr + first + i, mask=live, other=0)
        s = _start(x, table, coeffs_ptr, c, slots)
        tl.store(out_ptr + (first + i) * num_chunks + c, s, mask=live)


def _launch(
    kernel: Any, device: torch.device, num_bags: int, num_chunks: int, *args: Any, **meta: Any
) -> None:
    if num_bags == 0:
        return
    grid = (triton.cdiv(num_bags, BLOCK_BAGS), num_chunks)
    if device.type != "cuda":  # Triton's interpreter (TRITON_INTERPRET=1) runs on CPU
        kernel[grid](*args, BLOCK_BAGS=BLOCK_BAGS, num_warps=NUM_WARPS, **meta)
        return
    with torch.cuda.device(device):
        kernel[grid](*args, BLOCK_BAGS=BLOCK_BAGS, num_warps=NUM_WARPS, **meta)


def _coeff_tensor(coeffs: list[int], num_chunks: int, device: torch.device) -> torch.Tensor:
    if len(coeffs) != 5 * num_chunks:
        raise ValueError(f"{len(coeffs)} hash coefficients for {num_chunks} chunks (need 5 each)")
    return torch.tensor(coeffs, dtype=torch.int64, device=device)


def lookup(
    weight: torch.Tensor,
    values: torch.Tensor,
    offsets: torch.Tensor,
    num_tables: int,
    dim: int,
    chunk: int,
    coeffs: list[int],
) -> torch.Tensor:
    """Same contract as robe.ops.reference.lookup, for float32 CUDA tensors."""
    num_bags = offsets.numel() - 1
    out = weight.new_empty(num_bags, dim)
    _launch(
        _forward_kernel,
        weight.device,
        num_bags,
        dim // chunk,
        weight.contiguous(),
        values.contiguous(),
        offsets.contiguous(),
        out,
        num_bags,
        num_tables,
        weight.numel() - chunk + 1,
        dim,
        _coeff_tensor(coeffs, dim // chunk, weight.device),
        CHUNK=chunk,
        BLOCK_Z=triton.next_power_of_2(chunk),
    )
    return out


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
    """Gradient of `lookup` with respect to the array, [array_size]."""
    num_bags = offsets.numel() - 1
    out = torch.zeros(array_size, dtype=grad.dtype, device=grad.device)
    _launch(
        _backward_kernel,
        grad.device,
        num_bags,
        dim // chunk,
        grad.contiguous(),
        values.contiguous(),
        offsets.contiguous(),
        out,
        num_bags,
        num_tables,
        array_size - chunk + 1,
        dim,
        _coeff_tensor(coeffs, dim // chunk, grad.device),
        CHUNK=chunk,
        BLOCK_Z=triton.next_power_of_2(chunk),
    )
    return out


def slots(
    values: torch.Tensor,
    offsets: torch.Tensor,
    num_tables: int,
    num_chunks: int,
    array_slots: int,
    coeffs: list[int],
) -> torch.Tensor:
    """Chunk start slots per value, [N, num_chunks] int64, as robe.ops.reference.slots."""
    num_bags = offsets.numel() - 1
    out = torch.empty(values.numel(), num_chunks, dtype=torch.int64, device=values.device)
    _launch(
        _slots_kernel,
        values.device,
        num_bags,
        num_chunks,
        values.contiguous(),
        offsets.contiguous(),
        out,
        num_bags,
        num_tables,
        array_slots,
        num_chunks,
        _coeff_tensor(coeffs, num_chunks, values.device),
    )
    return out

"""The readable ROBE-Z lookup in plain torch: the oracle every kernel is tested against.

Bags are laid out batch-major: bag `j` covers `values[offsets[j]:offsets[j + 1]]` and
belongs to table `j % num_tables`, so a batch of B rows over T features has B*T bags.
This module materialises [values x dim] index tensors; it is meant to be obviously
right, not fast.
"""

from __future__ import annotations

import torch

from robe.hashing import LIMB_BITS, PRIME


def bag_ids(offsets: torch.Tensor, num_values: int) -> torch.Tensor:
    """For each value, the index of the bag it belongs to. [num_values] int64."""
    lengths = offsets[1:] - offsets[:-1]
    bags = torch.arange(lengths.numel(), device=offsets.device)
    return torch.repeat_interleave(bags, lengths, output_size=num_values)


def slots(
    values: torch.Tensor,
    tables: torch.Tensor,
    num_chunks: int,
    array_slots: int,
    coeffs: list[int],
) -> torch.Tensor:
    """Chunk start slots per value, [N, num_chunks] int64 (docs/hashing.md)."""
    coef = torch.tensor(coeffs, dtype=torch.int64, device=values.device).view(num_chunks, 5)
    acc = coef[:, 0].expand(values.numel(), num_chunks)
    shift = 0
    for i, bits in enumerate(LIMB_BITS):
        limb = (values >> shift) & ((1 << bits) - 1)
        acc = acc + coef[:, 1 + i] * limb[:, None]
        shift += bits
    acc = acc + coef[:, 4] * tables[:, None]
    return (acc % PRIME) % array_slots


def element_indices(
    values: torch.Tensor,
    offsets: torch.Tensor,
    num_tables: int,
    dim: int,
    chunk: int,
    array_size: int,
    coeffs: list[int],
) -> torch.Tensor:
    """Index into the array of every embedding element of every value, [N, dim] int64."""
    tables = bag_ids(offsets, values.numel()) % num_tables
    starts = slots(values, tables, dim // chunk, array_size - chunk + 1, coeffs)
    within = torch.arange(chunk, device=values.device, dtype=torch.int64)
    return (starts[:, :, None] + within).reshape(values.numel(), dim)


def lookup(
    weight: torch.Tensor,
    values: torch.Tensor,
    offsets: torch.Tensor,
    num_tables: int,
    dim: int,
    chunk: int,
    coeffs: list[int],
) -> torch.Tensor:
    """Summed bag embeddings, [num_bags, dim] in weight's dtype."""
    idx = element_indices(values, offsets, num_tables, dim, chunk, weight.numel(), coeffs)
    rows = weight[idx]
    out = weight.new_zeros(offsets.numel() - 1, dim)
    return out.index_add_(0, bag_ids(offsets, values.numel()), rows)


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
    idx = element_indices(values, offsets, num_tables, dim, chunk, array_size, coeffs)
    per_value = grad[bag_ids(offsets, values.numel())]
    out = grad.new_zeros(array_size)
    return out.index_add_(0, idx.reshape(-1), per_value.reshape(-1))

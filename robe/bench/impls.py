"""The embedding implementations `robe bench lookup` compares, behind one interface.

Each one is built once per shape (the plain tables take seconds to fill) and then
`prepare`d per batch into a zero-argument call: a forward pass, or a training pass
(forward plus backward, sparse gradients for plain tables, no optimizer step except
FBGEMM's, which fuses one into its backward).
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

import robe.ops  # noqa: F401  (registers torch.ops.robe)
from robe.bench.workload import BYTES_PER_PARAM, Shape
from robe.hashing import HashParams
from robe.ops import reference

Call = Callable[[], None]


Forward = Callable[[], torch.Tensor]


class Impl(ABC):
    name: str
    embedding_bytes: int

    @abstractmethod
    def forward(self, ids: torch.Tensor, train: bool) -> Forward:
        """A call that looks up `ids` ([batch, tables], on the device) and returns the bags."""

    def parameters(self) -> list[torch.Tensor]:
        """What receives gradients in a training pass (set to None after each)."""
        return []

    def prepare(self, ids: torch.Tensor, train: bool) -> Call:
        """The timed call: a forward pass, or forward and backward."""
        for p in self.parameters():
            p.requires_grad_(train)
        forward = self.forward(ids, train)
        return _train_step(forward, self.parameters()) if train else _no_grad(forward)


def _train_step(forward: Callable[[], torch.Tensor], params: list[torch.Tensor]) -> Call:
    grad: list[torch.Tensor] = []

    def step() -> None:
        out = forward()
        if not grad:
            grad.append(torch.ones_like(out))
        torch.autograd.backward(out, grad[0])
        for p in params:
            p.grad = None

    return step


def _no_grad(forward: Callable[[], torch.Tensor]) -> Call:
    def call() -> None:
        with torch.no_grad():
            forward()

    return call


class Robe(Impl):
    def __init__(
        self, shape: Shape, compression: float, chunk: int, device: torch.device, fused: bool
    ) -> None:
        self.name = "robe-fused" if fused else "robe-reference"
        self.shape = shape
        self.chunk = min(chunk, shape.dim)
        size = max(int(shape.full_bytes // BYTES_PER_PARAM // compression), self.chunk)
        scale = shape.dim**-0.5
        self.weight = torch.empty(size, device=device).uniform_(-scale, scale)
        self.embedding_bytes = size * BYTES_PER_PARAM
        self.coeffs = HashParams.from_seed(shape.dim // self.chunk).coefficients
        self.fused = fused

    def parameters(self) -> list[torch.Tensor]:
        return [self.weight]

    def forward(self, ids: torch.Tensor, train: bool) -> Forward:
        values = ids.reshape(-1)
        offsets = _bags(ids.shape[0], ids.shape[1], ids.device)
        s = self.shape
        op = torch.ops.robe.lookup if self.fused else reference.lookup

        def forward() -> torch.Tensor:
            out: torch.Tensor = op(
                self.weight, values, offsets, s.num_tables, s.dim, self.chunk, self.coeffs
            )
            return out

        return forward


def _bags(batch: int, tables: int, device: torch.device) -> torch.Tensor:
    # Criteo has one value per bag: bag j holds value j (batch-major).
    return torch.arange(batch * tables + 1, device=device)


class RobeInductor(Robe):
    """The reference lookup compiled by torch.compile (inductor: C++ on CPU, Triton on GPU)."""

    def __init__(self, shape: Shape, compression: float, chunk: int, device: torch.device) -> None:
        super().__init__(shape, compression, chunk, device, fused=False)
        self.name = "robe-inductor"
        self.compiled = torch.compile(reference.lookup, dynamic=False)

    def forward(self, ids: torch.Tensor, train: bool) -> Forward:
        values = ids.reshape(-1)
        offsets = _bags(ids.shape[0], ids.shape[1], ids.device)
        s = self.shape

        def forward() -> torch.Tensor:
            out: torch.Tensor = self.compiled(
                self.weight, values, offsets, s.num_tables, s.dim, self.chunk, self.coeffs
            )
            return out

        return forward


class PlainTables:
    """The plain tables, allocated and filled once, shared by the two torch impls."""

    def __init__(self, shape: Shape, device: torch.device) -> None:
        self.shape = shape
        sizes = torch.tensor(shape.plain_sizes, dtype=torch.int64, device=device)
        self.sizes = sizes
        self.starts = torch.cumsum(sizes, 0) - sizes
        scale = shape.dim**-0.5
        # Filled, not zeroed: untouched zero pages would all map to one physical page.
        self.weight = torch.empty(sum(shape.plain_sizes), shape.dim, device=device)
        self.weight.uniform_(-scale, scale)

    def local(self, ids: torch.Tensor) -> torch.Tensor:
        """Row of each id within its own table: the hashing trick, id mod table size."""
        return torch.remainder(ids, self.sizes)


class EmbeddingBagConcat(Impl):
    """One F.embedding_bag over all tables concatenated (what FullEmbeddingCollection does)."""

    name = "embedding_bag-concat"

    def __init__(self, tables: PlainTables) -> None:
        self.tables = tables
        self.param = nn.Parameter(tables.weight)  # shares the storage
        self.embedding_bytes = tables.shape.plain_bytes

    def parameters(self) -> list[torch.Tensor]:
        return [self.param]

    def forward(self, ids: torch.Tensor, train: bool) -> Forward:
        # Rows are computed outside the timed call: the baseline gets its hashing free.
        rows = (self.tables.local(ids) + self.tables.starts).reshape(-1)
        offsets = _bags(ids.shape[0], ids.shape[1], ids.device)

        def forward() -> torch.Tensor:
            return F.embedding_bag(
                rows, self.param, offsets, mode="sum", sparse=train, include_last_offset=True
            )

        return forward


class EmbeddingBagPerTable(Impl):
    """One nn.EmbeddingBag per table (storage shared with the concatenated matrix)."""

    name = "embedding_bag-per-table"

    def __init__(self, tables: PlainTables) -> None:
        self.tables = tables
        self.bags = nn.ModuleList()
        for start, size in zip(tables.starts.tolist(), tables.shape.plain_sizes, strict=True):
            bag = nn.EmbeddingBag(
                size,
                tables.shape.dim,
                mode="sum",
                sparse=True,
                _weight=tables.weight[start : start + size],
                device=tables.weight.device,
            )
            self.bags.append(bag)
        self.embedding_bytes = tables.shape.plain_bytes

    def parameters(self) -> list[torch.Tensor]:
        return list(self.bags.parameters())

    def forward(self, ids: torch.Tensor, train: bool) -> Forward:
        local = self.tables.local(ids).t().contiguous()  # [tables, batch]
        offsets = torch.arange(ids.shape[0] + 1, device=ids.device)

        def forward() -> torch.Tensor:
            outs = [bag(local[t], offsets[:-1]) for t, bag in enumerate(self.bags)]
            return torch.stack(outs, dim=1).view(ids.shape[0], -1)

        return forward


class FbgemmTBE(Impl):
    """FBGEMM's table-batched embedding bags (TorchRec's kernel), its own copy of the tables."""

    name = "fbgemm-tbe"

    def __init__(self, shape: Shape, device: torch.device) -> None:
        # fbgemm_gpu warns about optional modules of its own as it imports; not ours to fix.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from fbgemm_gpu.split_embedding_configs import EmbOptimType
            from fbgemm_gpu.split_table_batched_embeddings_ops_common import EmbeddingLocation
            from fbgemm_gpu.split_table_batched_embeddings_ops_training import (
                ComputeDevice,
                SplitTableBatchedEmbeddingBagsCodegen,
            )

        on_gpu = device.type == "cuda"
        location = EmbeddingLocation.DEVICE if on_gpu else EmbeddingLocation.HOST
        compute = ComputeDevice.CUDA if on_gpu else ComputeDevice.CPU
        specs = [(size, shape.dim, location, compute) for size in shape.plain_sizes]
        self.tbe = SplitTableBatchedEmbeddingBagsCodegen(
            specs,
            optimizer=EmbOptimType.EXACT_SGD,
            learning_rate=0.0,
            device=device,
        )
        self.sizes = torch.tensor(shape.plain_sizes, dtype=torch.int64, device=device)
        self.embedding_bytes = shape.plain_bytes

    def forward(self, ids: torch.Tensor, train: bool) -> Forward:
        # TBE wants table-major bags: all of table 0's, then table 1's, ...
        indices = torch.remainder(ids, self.sizes).t().contiguous().reshape(-1)
        offsets = torch.arange(indices.numel() + 1, device=ids.device)

        def forward() -> torch.Tensor:
            out: torch.Tensor = self.tbe(indices, offsets)
            return out

        return forward

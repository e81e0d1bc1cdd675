"""The model as it is exported: `(dense, values, offsets) -> score`, score = sigmoid(logit).

Exporters cannot take the training modules as they are (dataclass attributes, an
abstract base, a custom op that only eager torch knows), so the trained DLRM's
layers are rewrapped here around a lookup chosen per format:

- `op`: the registered custom op `torch.ops.robe.lookup` (TorchScript);
- `reference`: the plain-torch statement of the op (AOTInductor, so that the
  package holds nothing but ATen kernels);
- `ScoreFromEmbeddings` takes the looked-up embeddings as an input, for the ONNX
  route, where the lookup is written as an ONNX function instead.
"""

# No `from __future__ import annotations`: TorchScript reads class-level annotations
# (the buffers' types) as objects and cannot resolve them from strings.
from typing import Literal

import torch
from torch import nn

import robe.ops  # noqa: F401  (registers torch.ops.robe)
from robe.embeddings import FullEmbeddingCollection, RobeEmbeddingCollection
from robe.model import DLRM
from robe.ops import reference

LookupMode = Literal["op", "reference"]


class RobeLookup(nn.Module):
    """ROBE-Z lookup of bags into `[num_bags, dim]` through the registered custom op."""

    def __init__(self, source: RobeEmbeddingCollection) -> None:
        super().__init__()
        c = source.config
        self.weight = nn.Parameter(source.weight.detach(), requires_grad=False)
        self.num_tables = c.num_tables
        self.dim = c.dim
        self.chunk = c.chunk
        self.coeffs = list(source.coeffs)

    def forward(self, values: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = torch.ops.robe.lookup(
            self.weight, values, offsets, self.num_tables, self.dim, self.chunk, self.coeffs
        )
        return out


class RobeReferenceLookup(RobeLookup):
    """The same lookup in plain torch, so that a compiled graph holds only ATen kernels."""

    def forward(self, values: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return reference.lookup(
            self.weight, values, offsets, self.num_tables, self.dim, self.chunk, self.coeffs
        )


class TableRows(nn.Module):
    """values, offsets -> row of the concatenated plain tables [N] (key mod table size)."""

    sizes: torch.Tensor
    starts: torch.Tensor

    def __init__(self, table_sizes: tuple[int, ...]) -> None:
        super().__init__()
        sizes = torch.tensor(table_sizes, dtype=torch.int64)
        self.register_buffer("sizes", sizes)
        self.register_buffer("starts", torch.cumsum(sizes, 0) - sizes)
        self.num_tables = len(table_sizes)

    def forward(self, values: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        tables = reference.bag_ids(offsets, values.shape[0]) % self.num_tables
        return torch.remainder(values, self.sizes[tables]) + self.starts[tables]


class TableLookup(nn.Module):
    """Plain tables with the hashing trick, the same rows as FullEmbeddingCollection."""

    def __init__(self, source: FullEmbeddingCollection) -> None:
        super().__init__()
        self.weight = nn.Parameter(source.weight.detach(), requires_grad=False)
        self.rows = TableRows(source.config.table_sizes)

    def forward(self, values: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        rows = self.weight[self.rows(values, offsets)]
        bags = reference.bag_ids(offsets, values.shape[0])
        out = torch.zeros(
            offsets.shape[0] - 1, self.weight.shape[1], dtype=rows.dtype, device=rows.device
        )
        return out.index_add(0, bags, rows)


class ScoreFromEmbeddings(nn.Module):
    """dense [B, F], embeddings [B, T, D] -> click probability [B]: the DLRM after its lookup."""

    def __init__(self, model: DLRM) -> None:
        super().__init__()
        self.dense_arch = model.dense_arch
        self.interaction_arch = model.interaction_arch
        self.over_arch = model.over_arch

    def forward(self, dense: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        joined = self.interaction_arch(self.dense_arch(dense), embeddings)
        return torch.sigmoid(self.over_arch(joined))


class ExportableModel(nn.Module):
    """dense [B, F] float32, values [N] int64, offsets [B*T+1] int64 -> score [B] float32."""

    def __init__(self, model: DLRM, mode: LookupMode) -> None:
        super().__init__()
        source = model.embeddings
        self.lookup: nn.Module
        if isinstance(source, RobeEmbeddingCollection):
            self.lookup = RobeLookup(source) if mode == "op" else RobeReferenceLookup(source)
        elif isinstance(source, FullEmbeddingCollection):
            self.lookup = TableLookup(source)
        else:
            raise TypeError(f"cannot export embeddings of type {type(source).__name__}")
        self.num_tables = source.num_tables
        self.dim = source.dim
        self.score: nn.Module = ScoreFromEmbeddings(model)

    def forward(
        self, dense: torch.Tensor, values: torch.Tensor, offsets: torch.Tensor
    ) -> torch.Tensor:
        embeddings = self.lookup(values, offsets).reshape(-1, self.num_tables, self.dim)
        score: torch.Tensor = self.score(dense, embeddings)
        return score


class RobeIndices(nn.Module):
    """values, offsets -> ROBE-Z chunk starts [N, dim/chunk], as the chosen lookup computes them."""

    def __init__(self, lookup: RobeLookup) -> None:
        super().__init__()
        self.num_tables = lookup.num_tables
        self.num_chunks = lookup.dim // lookup.chunk
        self.array_slots = lookup.weight.shape[0] - lookup.chunk + 1
        self.coeffs = list(lookup.coeffs)

    def forward(self, values: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = torch.ops.robe.slots(
            values, offsets, self.num_tables, self.num_chunks, self.array_slots, self.coeffs
        )
        return out


class RobeReferenceIndices(RobeIndices):
    def forward(self, values: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        tables = reference.bag_ids(offsets, values.shape[0]) % self.num_tables
        return reference.slots(values, tables, self.num_chunks, self.array_slots, self.coeffs)


def index_model(model: ExportableModel) -> nn.Module:
    """The hash-index computation of `model`'s lookup, on its own (parity checks)."""
    lookup = model.lookup
    if isinstance(lookup, RobeReferenceLookup):
        return RobeReferenceIndices(lookup)
    if isinstance(lookup, RobeLookup):
        return RobeIndices(lookup)
    if isinstance(lookup, TableLookup):
        return lookup.rows  # holds the table sizes only, not the 2 GB matrix
    raise TypeError(f"no index model for {type(lookup).__name__}")


def eager_indices(model: DLRM, values: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """The indices the trained model's own lookup uses: robe::slots, or plain-table rows."""
    emb = model.embeddings
    with torch.no_grad():
        if isinstance(emb, RobeEmbeddingCollection):
            c = emb.config
            slots = c.robe_size - c.chunk + 1
            out: torch.Tensor = torch.ops.robe.slots(
                values, offsets, c.num_tables, c.dim // c.chunk, slots, emb.coeffs
            )
            return out
        if isinstance(emb, FullEmbeddingCollection):
            return emb.rows(values, offsets)
    raise TypeError(f"no indices for embeddings of type {type(emb).__name__}")


def eager_scores(
    model: DLRM, dense: torch.Tensor, values: torch.Tensor, offsets: torch.Tensor
) -> torch.Tensor:
    """The reference the formats are verified against: the trained model itself."""
    with torch.no_grad():
        return torch.sigmoid(model(dense, values, offsets))

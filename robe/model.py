"""DLRM, split the way TorchRec's `models/dlrm.py` is: dense, sparse, interaction, over.

B = batch rows, F = dense features, T = sparse features (tables), D = embedding dim.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from robe.embeddings import EmbeddingCollection
from robe.presets import PRESETS, Preset, get_preset

__all__ = [
    "DLRM",
    "PRESETS",
    "DenseArch",
    "InteractionArch",
    "OverArch",
    "Preset",
    "SparseArch",
    "get_preset",
]


def _mlp(widths: list[int], last_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(fan_in, fan_out))
        if last_activation or i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class DenseArch(nn.Module):
    """[B, F] dense features -> [B, D]."""

    def __init__(self, num_dense: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        self.mlp = _mlp([num_dense, *widths], last_activation=True)

    def forward(self, dense: torch.Tensor) -> torch.Tensor:
        return self.mlp(dense)


class SparseArch(nn.Module):
    """values [N], offsets [B*T+1] -> [B, T, D] through any EmbeddingCollection."""

    def __init__(self, embeddings: EmbeddingCollection) -> None:
        super().__init__()
        self.embeddings = embeddings

    def forward(self, values: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return self.embeddings(values, offsets)


class InteractionArch(nn.Module):
    """[B, D] and [B, T, D] -> [B, D + (T+1)T/2]: dense output and pairwise dot products."""

    pairs: torch.Tensor

    def __init__(self, num_sparse: int) -> None:
        super().__init__()
        rows, cols = torch.triu_indices(num_sparse + 1, num_sparse + 1, offset=1)
        self.register_buffer("pairs", rows * (num_sparse + 1) + cols, persistent=False)
        self.num_vectors = num_sparse + 1

    @staticmethod
    def output_width(num_sparse: int, dim: int) -> int:
        return dim + (num_sparse + 1) * num_sparse // 2

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        stacked = torch.cat([dense.unsqueeze(1), sparse], dim=1)  # [B, T+1, D]
        flat = self.gram(stacked).reshape(-1, self.num_vectors * self.num_vectors)
        return torch.cat([dense, flat[:, self.pairs]], dim=1)

    def gram(self, stacked: torch.Tensor) -> torch.Tensor:
        """[B, T+1, D] -> [B, T+1, T+1] float32 dot products (reduced-precision variants
        override this alone: model_export.reduced)."""
        return torch.bmm(stacked, stacked.transpose(1, 2))


class OverArch(nn.Module):
    """[B, D + (T+1)T/2] -> [B] logits."""

    def __init__(self, in_width: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        self.mlp = _mlp([in_width, *widths, 1], last_activation=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x).squeeze(1)


class DLRM(nn.Module):
    """dense [B, F] float32, values [N] int64, offsets [B*T+1] int64 -> logits [B]."""

    def __init__(self, num_dense: int, embeddings: EmbeddingCollection, preset: Preset) -> None:
        super().__init__()
        if embeddings.dim != preset.dim:
            raise ValueError(
                f"embedding dim {embeddings.dim} does not match preset {preset.name!r} "
                f"dim {preset.dim}"
            )
        self.dense_arch = DenseArch(num_dense, preset.bottom)
        self.sparse_arch = SparseArch(embeddings)
        self.interaction_arch = InteractionArch(embeddings.num_tables)
        width = InteractionArch.output_width(embeddings.num_tables, preset.dim)
        self.over_arch = OverArch(width, preset.top)

    @property
    def embeddings(self) -> EmbeddingCollection:
        return self.sparse_arch.embeddings

    def forward(
        self, dense: torch.Tensor, values: torch.Tensor, offsets: torch.Tensor
    ) -> torch.Tensor:
        dense_out = self.dense_arch(dense)
        sparse_out = self.sparse_arch(values, offsets)
        return self.over_arch(self.interaction_arch(dense_out, sparse_out))

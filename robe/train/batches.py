"""Rows to model inputs: tensors for `DLRM.forward(dense, values, offsets)`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from robe.data.rows import Rows, bags


@dataclass(frozen=True)
class Batch:
    dense: torch.Tensor  # [B, F] float32
    values: torch.Tensor  # [N] int64 (B*T when every bag holds one value)
    offsets: torch.Tensor  # [B*T+1] int64
    labels: torch.Tensor  # [B] float32


class RowTensors:
    """A Rows block held as tensors once, sliced into batches without copying twice."""

    def __init__(self, rows: Rows) -> None:
        self.dense = torch.from_numpy(np.ascontiguousarray(rows.dense))
        self.keys = torch.from_numpy(np.ascontiguousarray(rows.keys))
        self.labels = torch.from_numpy(np.ascontiguousarray(rows.labels))
        self.widths = rows.widths

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def batch(self, index: torch.Tensor | slice) -> Batch:
        keys = self.keys[index]
        if self.widths is None or all(w == 1 for w in self.widths):
            offsets = torch.arange(keys.numel() + 1, dtype=torch.int64)
            return Batch(self.dense[index], keys.reshape(-1), offsets, self.labels[index])
        values, bag_offsets = bags(keys.numpy(), self.widths)
        return Batch(
            self.dense[index],
            torch.from_numpy(values),
            torch.from_numpy(bag_offsets),
            self.labels[index],
        )

    def shuffled(self, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        order = torch.randperm(len(self), generator=generator)
        for start in range(0, len(self), batch_size):
            yield self.batch(order[start : start + batch_size])

    def sequential(self, batch_size: int) -> Iterator[Batch]:
        for start in range(0, len(self), batch_size):
            yield self.batch(slice(start, start + batch_size))

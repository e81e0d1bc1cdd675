"""`Rows`: a block of parsed examples, the unit readers yield and training consumes.

Numpy only (the torch-free serving path builds Rows too). A sparse feature takes
`width` key columns (its schema `max_values`; 1 for a single value, as in Criteo); a bag
of fewer values fills the rest with `robe.keys.PAD_KEY`. A missing value is
`robe.keys.MISSING_KEY`, a missing dense value 0 after its transform.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from robe.keys import PAD_KEY


@dataclass(frozen=True)
class Rows:
    labels: npt.NDArray[np.float32]  # [n] in {0, 1}
    dense: npt.NDArray[np.float32]  # [n, F], already log(1 + max(x, 0))
    keys: npt.NDArray[np.int64]  # [n, S], S = sum(widths), robe.keys rules
    widths: tuple[int, ...] | None = None  # key columns per sparse feature; None: all 1

    def __post_init__(self) -> None:
        n = self.labels.shape[0]
        if self.widths is not None and sum(self.widths) != self.keys.shape[1]:
            raise ValueError(f"Rows: widths {self.widths} for {self.keys.shape[1]} key columns")
        if self.dense.shape[0] != n or self.keys.shape[0] != n:
            raise ValueError(
                f"Rows: {n} labels, {self.dense.shape[0]} dense rows, {self.keys.shape[0]} key rows"
            )

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def take(self, index: npt.NDArray[np.int64] | slice) -> Rows:
        return Rows(self.labels[index], self.dense[index], self.keys[index], self.widths)

    @staticmethod
    def concat(parts: Sequence[Rows]) -> Rows:
        if not parts:
            raise ValueError("no rows to concatenate")
        return Rows(
            np.concatenate([p.labels for p in parts]),
            np.concatenate([p.dense for p in parts]),
            np.concatenate([p.keys for p in parts]),
            parts[0].widths,
        )


def dense_transform(raw: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    """Criteo dense counts to model inputs: log(1 + max(x, 0)); NaN (missing) becomes 0."""
    clean = np.nan_to_num(raw, nan=0.0)
    return np.log1p(np.maximum(clean, 0.0)).astype(np.float32)


def bags(
    keys: npt.NDArray[np.int64], widths: tuple[int, ...] | None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Key rows [n, S] to the lookup's (values, offsets): one bag per (row, feature),
    batch-major, padding dropped. All widths 1 (or None) is the one-value-per-bag case."""
    n = keys.shape[0]
    if widths is None or all(w == 1 for w in widths):
        return np.ascontiguousarray(keys).reshape(-1), np.arange(keys.size + 1, dtype=np.int64)
    present = keys != PAD_KEY
    starts = np.concatenate([[0], np.cumsum(widths[:-1])]).astype(np.int64)
    counts = np.add.reduceat(present, starts, axis=1).reshape(-1)
    offsets = np.zeros(n * len(widths) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return keys[present], offsets

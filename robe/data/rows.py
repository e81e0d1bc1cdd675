"""`Rows`: a block of parsed examples, the unit readers yield and training consumes.

Numpy only (the torch-free serving path builds Rows too). One value per sparse feature,
as in Criteo; a missing value is `robe.keys.MISSING_KEY`, a missing dense value 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Rows:
    labels: npt.NDArray[np.float32]  # [n] in {0, 1}
    dense: npt.NDArray[np.float32]  # [n, F], already log(1 + max(x, 0))
    keys: npt.NDArray[np.int64]  # [n, T], robe.keys rules

    def __post_init__(self) -> None:
        n = self.labels.shape[0]
        if self.dense.shape[0] != n or self.keys.shape[0] != n:
            raise ValueError(
                f"Rows: {n} labels, {self.dense.shape[0]} dense rows, {self.keys.shape[0]} key rows"
            )

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def take(self, index: npt.NDArray[np.int64] | slice) -> Rows:
        return Rows(self.labels[index], self.dense[index], self.keys[index])

    @staticmethod
    def concat(parts: Sequence[Rows]) -> Rows:
        if not parts:
            raise ValueError("no rows to concatenate")
        return Rows(
            np.concatenate([p.labels for p in parts]),
            np.concatenate([p.dense for p in parts]),
            np.concatenate([p.keys for p in parts]),
        )


def dense_transform(raw: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    """Criteo dense counts to model inputs: log(1 + max(x, 0)); NaN (missing) becomes 0."""
    clean = np.nan_to_num(raw, nan=0.0)
    return np.log1p(np.maximum(clean, 0.0)).astype(np.float32)


def bag_offsets(num_rows: int, num_tables: int) -> npt.NDArray[np.int64]:
    """Offsets for one value per (row, table), batch-major: 0, 1, ..., n*T."""
    return np.arange(num_rows * num_tables + 1, dtype=np.int64)

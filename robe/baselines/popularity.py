"""Item popularity: each item's smoothed click rate in the training rows, nothing else.

The floor a personalised model must clear when the schema names an item key. The rate
is shrunk toward the overall rate by `prior` pseudo-rows (empirical Bayes), so an item
seen once does not score 0 or 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from robe.data.rows import Rows
from robe.metrics import auc, logloss


@dataclass(frozen=True)
class Popularity:
    items: npt.NDArray[np.int64]  # sorted item keys seen in training
    rates: npt.NDArray[np.float64]  # their smoothed click rates
    overall: float  # the rate of an unseen item

    @classmethod
    def fit(cls, rows: Rows, column: int, prior: float = 10.0) -> Popularity:
        items, inverse = np.unique(rows.keys[:, column], return_inverse=True)
        counts = np.bincount(inverse, minlength=items.size).astype(np.float64)
        clicks = np.bincount(inverse, weights=rows.labels, minlength=items.size)
        overall = float(rows.labels.mean())
        return cls(items, (clicks + prior * overall) / (counts + prior), overall)

    def predict(self, rows: Rows, column: int) -> npt.NDArray[np.float64]:
        keys = rows.keys[:, column]
        at = np.clip(np.searchsorted(self.items, keys), 0, self.items.size - 1)
        seen = self.items[at] == keys
        return np.where(seen, self.rates[at], self.overall)

    def score(self, rows: Rows, column: int) -> dict[str, float]:
        scores = self.predict(rows, column)
        return {"auc": auc(rows.labels, scores), "logloss": logloss(rows.labels, scores)}

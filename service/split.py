"""Splitting a lone batch over idle inference workers, and joining its parts' scores.

At low load a request runs alone on one worker while the device's other workers idle
(on a small CPU box, two single-threaded workers: one core scores, the other waits).
When the batcher takes a batch with more than one worker idle and nothing else queued,
it cuts the batch's rows into contiguous parts, one per idle worker and each at least
`min_rows` rows (below that a call's fixed cost outweighs what the split saves), that
run side by side; the batch's requests complete when every part is in, their scores
joined in row order. Under load (a queue, busy workers) a batch runs whole.
"""

from __future__ import annotations

import itertools

import numpy as np

from service.rows import Dense, Keys
from service.runtimes.base import Scores


def bounds(total: int, idle: int, min_rows: int) -> list[tuple[int, int]]:
    """The parts of a batch of `total` rows on `idle` free workers: contiguous [lo, hi)
    row ranges of near-equal size, at most one per idle worker, each at least `min_rows`
    rows (`min_rows` 0: one part, never split)."""
    n = min(idle, total // min_rows) if min_rows > 0 else 1
    n = max(1, n)
    cuts = [total * i // n for i in range(n + 1)]
    return list(itertools.pairwise(cuts))


def rows_of(pieces: list[tuple[Dense, Keys]], lo: int, hi: int) -> tuple[Dense, Keys]:
    """Rows [lo, hi) of the requests' rows `pieces` taken end to end: views when they lie
    in one request (a lone request's parts copy nothing), else one concatenation."""
    dense: list[Dense] = []
    keys: list[Keys] = []
    at = 0
    for d, k in pieces:
        n = int(k.shape[0])
        a, b = max(lo, at), min(hi, at + n)
        if a < b:
            dense.append(d[a - at : b - at])
            keys.append(k[a - at : b - at])
        at += n
    if len(keys) == 1:
        return dense[0], keys[0]
    return np.concatenate(dense), np.concatenate(keys)


class Join:
    """The parts of one batch in flight: each part's scores, in row order.

    Used on the event loop only (each part's result is delivered there), so no lock."""

    def __init__(self, parts: list[tuple[int, int]]) -> None:
        self.parts = parts
        self._scores: list[Scores | None] = [None] * len(parts)
        self.left = len(parts)  # parts still running
        self.failed = False  # a part failed: the batch's requests got its error once

    def add(self, index: int, scores: Scores | None) -> bool:
        """Part `index` is done (None: it failed); True if it is the batch's first failure."""
        self._scores[index] = scores
        self.left -= 1
        first_failure = scores is None and not self.failed
        self.failed |= scores is None
        return first_failure

    @property
    def rows(self) -> int:
        return self.parts[-1][1]

    @property
    def done(self) -> bool:
        return self.left == 0

    def scores(self) -> Scores:
        """Every part's scores, end to end (only once all are in and none failed)."""
        parts = [s for s in self._scores if s is not None]
        if len(parts) != len(self._scores):
            raise RuntimeError("a part of the batch has no scores")
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

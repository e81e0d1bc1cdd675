"""Predicting how long a model takes to score rows, for admission by predicted wait.

`ScoringRate` keeps a running estimate (an exponentially weighted mean) of the rows per
second one batch reaches, per batch-size band (powers of two: 1, 2-3, 4-7, ...), since
small batches pay a fixed cost per call that large ones spread over many rows. The
seconds a batch of n rows will take are n over the rate of n's band, or of the nearest
band measured so far; a model never measured predicts 0 (everything is admitted until
the first batch, or warm-up, has run).
"""

from __future__ import annotations

import math

# Weight of the newest batch: the estimate follows a change of load within ~10 batches.
ALPHA = 0.2


def band(rows: int) -> int:
    """The batch-size band of `rows`: 1 -> 1, 2..3 -> 2, 4..7 -> 3, ..."""
    return max(1, rows).bit_length()


class ScoringRate:
    def __init__(self, alpha: float = ALPHA) -> None:
        if not 0 < alpha <= 1:
            raise ValueError("alpha must be in (0, 1]")
        self.alpha = alpha
        self._rate: dict[int, float] = {}  # band -> rows per second

    def observe(self, rows: int, seconds: float) -> None:
        """One batch of `rows` took `seconds` (queue hand-off to result, as a request sees it)."""
        if rows < 1 or seconds <= 0 or not math.isfinite(seconds):
            return
        b, rate = band(rows), rows / seconds
        old = self._rate.get(b)
        self._rate[b] = rate if old is None else old + self.alpha * (rate - old)

    def rate(self, rows: int) -> float | None:
        """Rows per second at the band of `rows` (or the nearest measured one)."""
        if not self._rate:
            return None
        b = band(rows)
        if b in self._rate:
            return self._rate[b]
        nearest = min(self._rate, key=lambda k: (abs(k - b), -k))
        return self._rate[nearest]

    def seconds(self, rows: int) -> float:
        """Predicted seconds for one batch of `rows`."""
        rate = self.rate(rows)
        return 0.0 if rate is None or rows <= 0 else rows / rate

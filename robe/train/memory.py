"""Refuse, before allocating anything, a model whose training state will not fit."""

from __future__ import annotations

from dataclasses import dataclass

import psutil

from robe.embeddings import BYTES_PER_PARAM, EmbeddingConfig
from robe.errors import ResourceError

# Adam / SparseAdam keep two moments per parameter; plus the parameter itself.
STATE_COPIES = 3
GB = 1e9


@dataclass(frozen=True)
class MemoryEstimate:
    weight_bytes: int
    optimizer_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.weight_bytes + self.optimizer_bytes


def estimate(config: EmbeddingConfig, keep_best: bool = False) -> MemoryEstimate:
    """Bytes to train; `keep_best` adds the copy of the best epoch's weights."""
    weights = config.params * BYTES_PER_PARAM
    copies = STATE_COPIES + (1 if keep_best else 0)
    return MemoryEstimate(weights, (copies - 1) * weights)


def check_fits(
    config: EmbeddingConfig, available_bytes: int | None = None, keep_best: bool = False
) -> MemoryEstimate:
    """The estimate, or ResourceError when it exceeds 90% of the available memory."""
    need = estimate(config, keep_best)
    available = psutil.virtual_memory().available if available_bytes is None else available_bytes
    if need.total_bytes > 0.9 * available:
        raise ResourceError(
            f"{config.kind} embeddings need {need.total_bytes / GB:.1f} GB to train "
            f"({need.weight_bytes / GB:.1f} GB of tables + {need.optimizer_bytes / GB:.1f} GB "
            f"of optimizer state{' and best-epoch copy' if keep_best else ''}), "
            f"but this machine has {available / GB:.1f} GB available; "
            "use --embedding robe with --compression"
        )
    return need

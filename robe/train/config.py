"""Training configuration: data, the model to build, and the optimisation schedule."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from robe.embeddings import EmbeddingKind


@dataclass(frozen=True)
class TrainConfig:
    data: Path
    out: Path
    embedding: EmbeddingKind = "robe"
    compression: float | None = None  # ROBE: full-equivalent params / array params
    robe_size_bytes: int | None = None  # ROBE: array bytes (alternative to compression)
    chunk: int = 16  # Z
    preset: str | None = None  # default: kaggle or terabyte by schema, else small
    schema: str | None = None  # name or file; default: DATA/schema.json, else criteo-kaggle
    epochs: int = 1
    batch_size: int = 256
    lr: float = 1e-3  # dense layers (Adam)
    embedding_lr: float = 1e-2  # ROBE array (Adam) or plain tables (SparseAdam)
    val_fraction: float = 0.1  # the chronologically last rows
    val_rows: int | None = None  # overrides val_fraction
    val_data: Path | None = None  # a separate validation set; overrides both
    seed: int = 0
    skip_bad_rows: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        if self.embedding not in ("robe", "full"):
            raise ValueError(f"--embedding must be robe or full, got {self.embedding!r}")
        if self.compression is not None and self.robe_size_bytes is not None:
            raise ValueError("give --compression or --robe-size, not both")
        if self.embedding == "full" and (self.compression or self.robe_size_bytes):
            raise ValueError("--compression and --robe-size apply to --embedding robe only")
        if self.compression is not None and not self.compression >= 1:
            raise ValueError(f"--compression must be >= 1, got {self.compression}")
        if self.robe_size_bytes is not None and self.robe_size_bytes < 4 * self.chunk:
            raise ValueError(f"--robe-size {self.robe_size_bytes} bytes is below one chunk")
        if self.epochs < 1:
            raise ValueError(f"--epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {self.batch_size}")
        if not (self.lr > 0 and self.embedding_lr > 0):
            raise ValueError("learning rates must be positive")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"--val-fraction must be in (0, 1), got {self.val_fraction}")
        if self.val_rows is not None and self.val_rows < 1:
            raise ValueError(f"--val-rows must be >= 1, got {self.val_rows}")

"""Training configuration: data, the model to build, and the optimisation schedule."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from robe.embeddings import EmbeddingKind
from robe.train.defaults import (
    DEFAULT_EMBEDDING_LR,
    DEFAULT_EPOCHS,
    DEFAULT_LR,
    DEFAULT_PATIENCE,
    DEFAULT_WEIGHT_DECAY,
    default_batch_size,
)
from robe.train.fit import Schedule


@dataclass(frozen=True)
class TrainConfig:
    data: Path
    out: Path
    embedding: EmbeddingKind = "robe"
    compression: float | None = None  # ROBE: full-equivalent params / array params
    robe_size_bytes: int | None = None  # ROBE: array bytes (alternative to compression)
    chunk: int = 16  # Z
    preset: str | None = None  # default: kaggle or terabyte by schema, else small
    dim: int | None = None  # default: the schema's dim
    schema: str | None = None  # name or file; default: DATA/schema.json, else criteo-kaggle
    epochs: int = DEFAULT_EPOCHS
    patience: int | None = None  # None: DEFAULT_PATIENCE (no early stop with one epoch)
    batch_size: int | None = None  # None: default_batch_size(training rows)
    lr: float = DEFAULT_LR  # dense layers (AdamW)
    embedding_lr: float = DEFAULT_EMBEDDING_LR  # ROBE array (Adam) or plain tables (SparseAdam)
    weight_decay: float = DEFAULT_WEIGHT_DECAY  # dense layers
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
        if self.dim is not None and self.dim < 1:
            raise ValueError(f"--dim must be >= 1, got {self.dim}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"--val-fraction must be in (0, 1), got {self.val_fraction}")
        if self.val_rows is not None and self.val_rows < 1:
            raise ValueError(f"--val-rows must be >= 1, got {self.val_rows}")
        self.schedule_for(10**6)  # validates the schedule's fields too

    def schedule_for(self, train_rows: int) -> Schedule:
        """The schedule, its batch size chosen for `train_rows` rows unless given."""
        return Schedule(
            epochs=self.epochs,
            batch_size=self.batch_size or default_batch_size(train_rows),
            lr=self.lr,
            embedding_lr=self.embedding_lr,
            weight_decay=self.weight_decay,
            patience=DEFAULT_PATIENCE if self.patience is None else self.patience,
            seed=self.seed,
        )

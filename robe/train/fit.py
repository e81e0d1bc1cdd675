"""The training loop: shuffled minibatch epochs, a validation after each, the best kept.

Early stopping watches validation logloss (a proper scoring rule, smoother than AUC on
small validation sets): after `patience` epochs without a new best, training stops and
the model is put back to its best epoch's weights.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch import nn
from torch.distributed.algorithms.join import Join
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from robe.model import DLRM
from robe.train.batches import RowTensors
from robe.train.cluster import Cluster
from robe.train.launch import PLAIN_UNDER_DDP

Validate = Callable[[DLRM], dict[str, float]]


@dataclass(frozen=True)
class Schedule:
    epochs: int = 1
    batch_size: int = 256  # rows per step over all ranks
    lr: float = 1e-3  # dense layers (Adam)
    embedding_lr: float = 1e-2  # ROBE array (Adam) or plain tables (SparseAdam)
    weight_decay: float = 0.0  # L2 of the dense layers (decoupled, AdamW)
    patience: int = 0  # epochs without a better validation logloss before stopping; 0: none
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"--epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {self.batch_size}")
        if not (self.lr > 0 and self.embedding_lr > 0):
            raise ValueError("learning rates must be positive")
        if self.weight_decay < 0:
            raise ValueError(f"--weight-decay must be >= 0, got {self.weight_decay}")
        if self.patience < 0:
            raise ValueError(f"--patience must be >= 0, got {self.patience}")


@dataclass(frozen=True)
class FitResult:
    history: tuple[dict[str, float], ...]  # one entry per epoch run
    best_epoch: int  # 1-based; the model holds this epoch's weights
    rows_trained: int  # by this rank
    stopped_early: bool

    @property
    def best(self) -> dict[str, float]:
        return self.history[self.best_epoch - 1]


def _optimizers(model: DLRM, schedule: Schedule) -> list[torch.optim.Optimizer]:
    embedding_params = list(model.embeddings.parameters())
    ids = {id(p) for p in embedding_params}
    dense_params = [p for p in model.parameters() if id(p) not in ids]
    sparse_opt: torch.optim.Optimizer
    if model.embeddings.sparse_gradients:
        sparse_opt = torch.optim.SparseAdam(embedding_params, lr=schedule.embedding_lr)
    else:
        sparse_opt = torch.optim.Adam(embedding_params, lr=schedule.embedding_lr)
    dense_opt = torch.optim.AdamW(dense_params, lr=schedule.lr, weight_decay=schedule.weight_decay)
    return [dense_opt, sparse_opt]


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def fit(
    model: DLRM,
    train_set: RowTensors,
    validate: Validate,
    schedule: Schedule,
    *,
    cluster: Cluster | None = None,
    progress: bool = True,
    desc: str = "train",
) -> FitResult:
    """Train `model` in place on this rank's rows; on return it holds the best epoch."""
    cluster = cluster or Cluster()
    if cluster.distributed and model.embeddings.sparse_gradients:
        raise ValueError(PLAIN_UNDER_DDP)
    ddp = DistributedDataParallel(model) if cluster.distributed else None
    step_model: nn.Module = ddp or model
    local_batch = max(1, schedule.batch_size // cluster.world_size)
    optimizers = _optimizers(model, schedule)
    loss_fn = nn.BCEWithLogitsLoss()
    generator = torch.Generator().manual_seed(schedule.seed + cluster.rank)
    history: list[dict[str, float]] = []
    best_loss, best_epoch = float("inf"), 0
    best_state: dict[str, torch.Tensor] | None = None
    rows = 0
    model.train()
    with tqdm(
        total=len(train_set) * schedule.epochs,
        unit="rows",
        unit_scale=True,
        disable=not (progress and cluster.is_leader),
        desc=desc,
        smoothing=0.1,
    ) as bar:
        for epoch in range(1, schedule.epochs + 1):
            # Ranks may hold a batch more or less than each other: Join lets the ones that
            # finish first answer the others' all-reduces instead of hanging.
            with Join([ddp]) if ddp is not None else nullcontext():
                for batch in train_set.shuffled(local_batch, generator):
                    logits = step_model(batch.dense, batch.values, batch.offsets)
                    loss = loss_fn(logits, batch.labels)
                    for opt in optimizers:
                        opt.zero_grad(set_to_none=True)
                    loss.backward()
                    for opt in optimizers:
                        opt.step()
                    n = int(batch.labels.shape[0])
                    rows += n
                    bar.update(n)
                    bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
            metrics = validate(model)  # the same figures on every rank
            history.append({"epoch": epoch, **metrics})
            bar.set_postfix(val_logloss=f"{metrics['logloss']:.4f}", best=best_epoch)
            if metrics["logloss"] < best_loss:
                best_loss, best_epoch = metrics["logloss"], epoch
                if schedule.epochs > 1:
                    best_state = _snapshot(model)
            elif schedule.patience and epoch - best_epoch >= schedule.patience:
                break
    if best_state is not None and best_epoch != len(history):
        model.load_state_dict(best_state)
    stopped = len(history) < schedule.epochs
    return FitResult(tuple(history), max(best_epoch, 1), rows, stopped)

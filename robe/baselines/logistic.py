"""Logistic regression on hashed one-hot features: the classic strong CTR baseline.

Each (feature, value) pair is hashed into one of `2**bits` weights (the hashing trick
of Weinberger et al.); dense inputs enter linearly. Trained with Adam on minibatches,
an L2 penalty on the weights a batch touches (the usual per-example regularisation of
sparse models), and early stopping on held-out rows. The penalty is chosen from a small
grid on those held-out rows, as anyone fitting this baseline for real would do.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from torch.nn import functional as F

from robe.data.rows import Rows
from robe.keys import PAD_KEY
from robe.metrics import auc, logloss
from robe.train.defaults import default_batch_size

# Multipliers of a 64-bit multiplicative hash (odd; from splitmix64) mixing the table
# into the value, so equal keys in different features get unrelated buckets.
_MIX_KEY = np.uint64(0x9E3779B97F4A7C15)
_MIX_TABLE = np.uint64(0xBF58476D1CE4E5B9)


@dataclass(frozen=True)
class LogisticConfig:
    bits: int = 22  # 4M weights: collisions are rare below a few million distinct values
    l2_grid: tuple[float, ...] = (1e-6, 1e-5, 1e-4)  # per touched weight, per row
    lr: float = 0.01
    batch_size: int | None = None  # None: robe train's rule (enough steps per epoch)
    epochs: int = 20  # a ceiling: early stopping on held-out rows ends it
    patience: int = 1
    seed: int = 0


def hashed_features(
    keys: npt.NDArray[np.int64], bits: int, widths: tuple[int, ...] | None = None
) -> npt.NDArray[np.int64]:
    """[n, S] keys -> [n, S] weight indices in [1, 2**bits); 0 (no weight) for padding.

    `widths`: key columns per feature (multi-valued bags), so every value of a bag is
    hashed with its feature's number.
    """
    widths = widths or (1,) * keys.shape[1]
    tables = np.repeat(np.arange(len(widths), dtype=np.uint64), widths)
    with np.errstate(over="ignore"):
        mixed = keys.astype(np.uint64) * _MIX_KEY + (tables + np.uint64(1)) * _MIX_TABLE
        mixed ^= mixed >> np.uint64(29)
        mixed *= _MIX_KEY
    index = np.maximum((mixed >> np.uint64(64 - bits)).astype(np.int64), 1)
    return np.where(keys == PAD_KEY, 0, index)


class LogisticModel(nn.Module):
    def __init__(self, num_dense: int, bits: int, l2: float) -> None:
        super().__init__()
        self.bits = bits
        self.l2 = l2  # the penalty it was trained with
        self.sparse = nn.EmbeddingBag(2**bits, 1, mode="sum", sparse=True, padding_idx=0)
        nn.init.zeros_(self.sparse.weight)
        self.dense = nn.Linear(num_dense, 1)

    def forward(self, dense: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return (self.sparse(index) + self.dense(dense)).squeeze(1)


@dataclass(frozen=True)
class _Tensors:
    dense: torch.Tensor
    index: torch.Tensor
    labels: torch.Tensor

    @classmethod
    def of(cls, rows: Rows, bits: int) -> _Tensors:
        return cls(
            torch.from_numpy(np.ascontiguousarray(rows.dense)),
            torch.from_numpy(hashed_features(rows.keys, bits, rows.widths)),
            torch.from_numpy(np.ascontiguousarray(rows.labels)),
        )


@torch.no_grad()
def _predict(model: LogisticModel, data: _Tensors) -> npt.NDArray[np.float32]:
    return torch.sigmoid(model(data.dense, data.index)).numpy()


def _fit_one(
    train: _Tensors, stop: _Tensors, l2: float, config: LogisticConfig
) -> tuple[LogisticModel, float]:
    torch.manual_seed(config.seed)
    model = LogisticModel(int(train.dense.shape[1]), config.bits, l2)
    sparse_opt: torch.optim.Optimizer = torch.optim.SparseAdam(
        list(model.sparse.parameters()), lr=config.lr
    )
    dense_opt = torch.optim.Adam(model.dense.parameters(), lr=config.lr)
    loss_fn = nn.BCEWithLogitsLoss()
    generator = torch.Generator().manual_seed(config.seed)
    n = int(train.labels.shape[0])
    batch_size = config.batch_size or default_batch_size(n)
    best_loss, best_state, since = float("inf"), copy.deepcopy(model.state_dict()), 0
    for _ in range(config.epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            pick = order[start : start + batch_size]
            index = train.index[pick]
            logits = model(train.dense[pick], index)
            touched = F.embedding(index, model.sparse.weight, sparse=True)
            penalty = l2 * touched.pow(2).sum()
            loss = loss_fn(logits, train.labels[pick]) + penalty / len(pick)
            sparse_opt.zero_grad(set_to_none=True)
            dense_opt.zero_grad(set_to_none=True)
            loss.backward()
            sparse_opt.step()
            dense_opt.step()
        stop_loss = logloss(stop.labels.numpy(), _predict(model, stop))
        if stop_loss < best_loss:
            best_loss, best_state, since = stop_loss, copy.deepcopy(model.state_dict()), 0
        else:
            since += 1
            if since >= config.patience:
                break
    model.load_state_dict(best_state)
    return model, best_loss


def fit_logistic(train: Rows, stop: Rows, config: LogisticConfig) -> LogisticModel:
    """The best model over the L2 grid, judged by logloss on `stop` (never the test rows)."""
    train_t, stop_t = _Tensors.of(train, config.bits), _Tensors.of(stop, config.bits)
    fits = [_fit_one(train_t, stop_t, l2, config) for l2 in config.l2_grid]
    return min(fits, key=lambda f: f[1])[0]


def score_logistic(model: LogisticModel, rows: Rows) -> dict[str, float]:
    scores = _predict(model, _Tensors.of(rows, model.bits))
    return {"auc": auc(rows.labels, scores), "logloss": logloss(rows.labels, scores)}

"""Scoring and validation metrics of a model on a Rows block."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

from robe.data.rows import Rows
from robe.metrics import auc, logloss
from robe.model import DLRM
from robe.train.batches import RowTensors

EVAL_BATCH = 4096  # bounds activation memory at the terabyte preset


@torch.no_grad()
def predict(model: DLRM, rows: Rows | RowTensors) -> npt.NDArray[np.float32]:
    """Click probabilities for every row, in order."""
    tensors = rows if isinstance(rows, RowTensors) else RowTensors(rows)
    was_training = model.training
    model.eval()
    out = [
        torch.sigmoid(model(b.dense, b.values, b.offsets)) for b in tensors.sequential(EVAL_BATCH)
    ]
    model.train(was_training)
    return torch.cat(out).numpy()


def evaluate(model: DLRM, rows: Rows | RowTensors) -> dict[str, float]:
    labels = rows.labels.numpy() if isinstance(rows, RowTensors) else rows.labels
    scores = predict(model, rows)
    return {
        "auc": auc(labels, scores),
        "logloss": logloss(labels, scores),
        "rows": float(len(labels)),
        "ctr": float(np.mean(labels)),
    }

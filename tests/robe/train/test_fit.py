"""The training loop: early stopping on validation logloss keeps the best epoch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robe.data.rows import Rows
from robe.embeddings import EmbeddingConfig, build_embeddings
from robe.model import DLRM, get_preset
from robe.train.batches import RowTensors
from robe.train.cluster import Cluster
from robe.train.fit import FitResult, Schedule, Validate, fit


def _rows(n: int = 64) -> Rows:
    rng = np.random.default_rng(0)
    return Rows(
        rng.integers(0, 2, n).astype(np.float32),
        rng.random((n, 3), dtype=np.float32),
        rng.integers(0, 100, (n, 2)),
    )


def _model() -> DLRM:
    preset = get_preset("small")
    embedding = EmbeddingConfig.robe_for_compression((100, 100), preset.dim, 4.0, chunk=4)
    return DLRM(3, build_embeddings(embedding), preset)


def _weight(model: DLRM) -> torch.Tensor:
    weight = model.embeddings.weight
    assert isinstance(weight, torch.Tensor)
    return weight


def _scripted(losses: list[float], seen: list[torch.Tensor]) -> Validate:
    def validate(model: DLRM) -> dict[str, float]:
        seen.append(_weight(model).detach().clone())
        return {"auc": 0.5, "logloss": losses[len(seen) - 1]}

    return validate


def _fit_scripted(losses: list[float], patience: int) -> tuple[DLRM, list[torch.Tensor], FitResult]:
    """Fit a small model for len(losses) epochs at most, validation scripted to `losses`;
    returns the model, its weights after each epoch, and the result."""
    torch.manual_seed(0)
    model, seen = _model(), list[torch.Tensor]()
    schedule = Schedule(epochs=len(losses), batch_size=16, patience=patience)
    result = fit(model, RowTensors(_rows()), _scripted(losses, seen), schedule, progress=False)
    return model, seen, result


def test_stops_after_patience_and_restores_the_best_epoch():
    model, seen, result = _fit_scripted([0.6, 0.4, 0.5, 0.45, 0.3, 0.2], patience=2)
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4]
    assert result.best_epoch == 2 and result.stopped_early
    assert torch.equal(_weight(model), seen[1])
    assert not torch.equal(_weight(model), seen[3])
    assert result.rows_trained == 4 * 64


def test_patience_zero_runs_every_epoch_and_still_keeps_the_best():
    model, seen, result = _fit_scripted([0.6, 0.3, 0.5, 0.7], patience=0)
    assert len(result.history) == 4 and not result.stopped_early
    assert result.best_epoch == 2
    assert torch.equal(_weight(model), seen[1])


def test_plain_tables_are_refused_under_several_processes():
    preset = get_preset("small")
    model = DLRM(3, build_embeddings(EmbeddingConfig("full", preset.dim, (100, 100))), preset)
    with pytest.raises(ValueError, match="plain tables"):
        fit(
            model,
            RowTensors(_rows()),
            _scripted([0.5], []),
            Schedule(),
            cluster=Cluster(rank=0, world_size=2),
            progress=False,
        )


@pytest.mark.parametrize(
    ("field", "value"), [("epochs", 0), ("patience", -1), ("weight_decay", -1.0)]
)
def test_schedule_rejects_bad_values(field: str, value: float):
    with pytest.raises(ValueError, match=field.replace("_", "-")):
        Schedule(**{field: value})  # type: ignore[arg-type]

"""Static int8 input ranges from a run's training rows (model_export/calibration.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from model_export.accuracy import LabelledRows
from model_export.artifact import read_metrics
from model_export.calibration import QUANTILE, calibrate, run_calibration, training_rows
from robe.checkpoint import load_checkpoint
from robe.data.reader import read_rows
from tests.model_export.conftest import TINY, train_tiny


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(tmp_path_factory.mktemp("calibration"), rows=3000)


def test_training_rows_are_the_first_rows_and_never_the_validation_split(
    trained_run: Path,
) -> None:
    metrics = read_metrics(trained_run)
    assert metrics["train_rows"] == 2700
    every = read_rows(Path(metrics["data"]), TINY)
    rows = training_rows(TINY, metrics)
    assert len(rows.labels) == 2700  # all of them: fewer than calibration.ROWS
    assert np.array_equal(rows.keys, every.keys[:2700])
    assert len(training_rows(TINY, metrics, rows=100).labels) == 100
    with pytest.raises(ValueError, match="train_rows"):
        training_rows(TINY, {**metrics, "train_rows": None})
    with pytest.raises(ValueError, match="not readable"):
        training_rows(TINY, {**metrics, "data": str(trained_run / "gone")})


def test_each_linear_gets_the_quantile_of_its_input(trained_run: Path) -> None:
    model, spec = load_checkpoint(trained_run)
    model.eval()
    calibration = run_calibration(model, spec.schema, read_metrics(trained_run))
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    assert sorted(calibration.ranges) == sorted(linears)
    assert calibration.rows == 2700 and "first 2700 rows" in calibration.source
    assert calibration.entry() == {
        "rows": 2700,
        "source": calibration.source,
        "quantile": QUANTILE,
    }
    # the first dense layer's input is the dense features themselves
    rows = training_rows(spec.schema, read_metrics(trained_run))
    dense = torch.from_numpy(rows.dense).abs().flatten()
    want = float(torch.quantile(dense.double(), QUANTILE, interpolation="nearest"))
    assert calibration.ranges["dense_arch.mlp.0"] == pytest.approx(want, rel=1e-3)
    assert all(r > 0 for r in calibration.ranges.values())


def test_an_outlier_does_not_set_the_range() -> None:
    linear = nn.Linear(4, 1)

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = linear

        def forward(
            self, dense: torch.Tensor, values: torch.Tensor, _: torch.Tensor
        ) -> torch.Tensor:
            return self.layer(dense)

    dense = np.ones((20_000, 4), np.float32)
    dense[0, 0] = 1000.0  # one value in 80,000
    rows = LabelledRows(np.zeros(20_000, np.float32), dense, np.zeros((20_000, 1), np.int64))
    calibration = calibrate(Model(), rows, "test")
    assert calibration.ranges == {"layer": 1.0}
    assert json.loads(json.dumps(calibration.entry()))["quantile"] == QUANTILE

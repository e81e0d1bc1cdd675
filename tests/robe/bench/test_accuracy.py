"""`robe bench accuracy`: the split, the equal-memory caps, the baselines, the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from robe.baselines.logistic import LogisticConfig, fit_logistic, hashed_features, score_logistic
from robe.baselines.popularity import Popularity
from robe.bench.accuracy import AccuracyConfig, capped_sizes, chronological_split
from robe.bench.accuracy_report import accuracy_figure, accuracy_table
from robe.cli.main import main
from robe.data.rows import Rows


def _rows(n: int, seed: int = 0) -> Rows:
    """Clicks driven by one sparse feature and one dense feature, learnable by any model."""
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, 20, (n, 3))
    dense = rng.random((n, 2), dtype=np.float32)
    logit = (keys[:, 0] % 2) * 2.0 - 1.0 + dense[:, 0]
    labels = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    return Rows(labels, dense, keys)


def test_capped_sizes_fill_the_budget_with_one_common_cap():
    assert capped_sizes((10, 1000, 5000), 10 + 2 * 400) == (10, 400, 400)
    assert capped_sizes((10, 20), 100) == (10, 20)
    assert sum(capped_sizes((7, 9_000, 1_000_000), 5_000)) <= 5_000


def test_the_split_is_chronological_and_disjoint():
    rows = _rows(1000)
    split = chronological_split(rows, AccuracyConfig(data=Path("x"), val_rows=200))
    assert (len(split.fit), len(split.stop), len(split.test)) == (720, 80, 200)
    assert np.array_equal(split.test.keys, rows.keys[800:])
    assert np.array_equal(split.stop.keys, rows.keys[720:800])


def test_hashed_features_separate_tables_and_stay_in_range():
    keys = np.array([[5, 5, 5]], dtype=np.int64)
    index = hashed_features(keys, 20)
    assert len(set(index[0].tolist())) == 3
    assert index.min() >= 0 and index.max() < 2**20


def test_logistic_regression_learns_a_learnable_signal():
    train, stop, test = _rows(3000, 1), _rows(500, 2), _rows(1000, 3)
    model = fit_logistic(train, stop, LogisticConfig(bits=16, l2_grid=(1e-5,)))
    assert score_logistic(model, test)["auc"] > 0.75  # the true probabilities give 0.770


def test_popularity_smooths_toward_the_overall_rate():
    rows = Rows(
        np.array([1, 1, 0, 0], dtype=np.float32),
        np.zeros((4, 1), dtype=np.float32),
        np.array([[1], [1], [2], [3]], dtype=np.int64),
    )
    popular = Popularity.fit(rows, 0, prior=2.0)
    unseen = Rows(np.zeros(1, np.float32), np.zeros((1, 1), np.float32), np.array([[9]]))
    assert popular.predict(rows, 0)[0] == pytest.approx((2 + 2 * 0.5) / (2 + 2))
    assert popular.predict(unseen, 0)[0] == pytest.approx(0.5)


def _result() -> dict[str, Any]:
    case = {"compression": 1000.0, "logloss": 0.5, "train_seconds": 1.0}
    return {
        "data": "d.tsv",
        "schema": "s",
        "rows": {"fit": 10, "stop": 2, "test": 5},
        "test_ctr": 0.2,
        "machine": {"description": "test machine"},
        "cases": [
            {"model": "robe", "auc": 0.7, "embedding_bytes": 1000, **case},
            {"model": "hashing-trick", "auc": 0.65, "embedding_bytes": 1000, **case},
            {"model": "plain", "compression": 1.0, "embedding_bytes": 10**12, "skipped": "big"},
            {"model": "logistic", "compression": None, "auc": 0.68, "logloss": 0.5,
             "embedding_bytes": 4 * 2**22, "train_seconds": 2.0},
        ],
    }  # fmt: skip


def test_the_report_lists_every_case_and_draws_the_figure(tmp_path: Path):
    table = accuracy_table(_result())
    assert "| robe | 1000x | 0.7000 |" in table
    assert "| plain | 1x | skipped | big |" in table
    figure = tmp_path / "r.png"
    accuracy_figure(_result(), figure)
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_the_command_runs_every_case_on_a_small_schema(tmp_path: Path):
    rows = _rows(600)
    lines = [
        "\t".join(
            [str(int(rows.labels[i])), *(f"{x:.3f}" for x in rows.dense[i]),
             *(f"v{k}" for k in rows.keys[i])]
        )
        for i in range(len(rows))
    ]  # fmt: skip
    data = tmp_path / "rows.tsv"
    data.write_text("\n".join(lines) + "\n")
    schema = tmp_path / "schema.json"
    schema.write_text(
        json.dumps(
            {
                "name": "tiny",
                "dim": 8,
                "dense": [{"name": f"I{i}", "side": "user"} for i in range(2)],
                "sparse": [{"name": f"C{i}", "side": "item", "size": 40} for i in range(3)],
            }
        )
    )
    out = tmp_path / "result.json"
    argv = ["bench", "accuracy", "--data", str(data), "--schema", str(schema), "--val-rows",
            "150", "--compressions", "2,4", "--epochs", "2", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    result = json.loads(out.read_text())
    models = [(c["model"], c["compression"]) for c in result["cases"]]
    assert models == [
        ("robe", 2.0), ("hashing-trick", 2.0), ("robe", 4.0), ("hashing-trick", 4.0),
        ("plain", 1.0), ("logistic", None), ("popularity", None),
    ]  # fmt: skip
    for case in result["cases"]:
        assert 0.0 <= case["auc"] <= 1.0 and case["embedding_bytes"] > 0
    assert result["cases"][-2]["auc"] > 0.6  # 450 rows are enough for the linear model
    # popularity on the item-side feature with the most values (C0..C2 all have 20)
    assert result["popularity"] == "included"
    robe4, capped4 = result["cases"][2], result["cases"][3]
    assert capped4["embedding_bytes"] <= robe4["embedding_bytes"]
    assert out.with_suffix(".png").is_file() and out.with_suffix(".md").is_file()

"""`robe train` / `robe evaluate` end to end through the CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robe.cli.main import main

SAMPLE = (
    Path(__file__).resolve().parents[3]
    / ".."
    / "shared"
    / "data"
    / "criteo"
    / "kaggle_train_sample_10k.txt"
)
needs_sample = pytest.mark.skipif(not SAMPLE.is_file(), reason=f"no Criteo sample at {SAMPLE}")


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train on the first 8,000 real Criteo rows, validate on the last 2,000."""
    out = tmp_path_factory.mktemp("run")
    code = main(
        [
            "train",
            "--data",
            str(SAMPLE),
            "--embedding",
            "robe",
            "--compression",
            "1000",
            "--preset",
            "small",
            "--val-rows",
            "2000",
            "--batch-size",
            "128",
            "--no-progress",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    return out


@needs_sample
def test_real_criteo_sample_reaches_auc_070(sample_run: Path):
    metrics = json.loads((sample_run / "metrics.json").read_text())
    assert metrics["auc"] >= 0.70
    assert metrics["val_rows"] == 2000
    assert metrics["train_rows"] == 8000
    assert metrics["rows_trained"] == 8000 * metrics["epochs_run"]
    best = metrics["history"][metrics["best_epoch"] - 1]
    assert metrics["auc"] == best["auc"]  # the kept epoch is the best validation logloss
    assert best["logloss"] == min(h["logloss"] for h in metrics["history"])
    assert metrics["compression"] >= 1000
    for key in (
        "logloss",
        "embedding_params",
        "full_equivalent_params",
        "train_seconds",
        "rows_per_second",
    ):
        assert metrics[key] > 0


@needs_sample
def test_evaluate_reproduces_the_validation_auc(sample_run: Path, tmp_path: Path, capsys):
    tail = tmp_path / "tail.txt"
    tail.write_text("".join(SAMPLE.read_text().splitlines(keepends=True)[-2000:]))
    assert main(["evaluate", "--checkpoint", str(sample_run), "--data", str(tail)]) == 0
    printed = json.loads(capsys.readouterr().out)
    trained = json.loads((sample_run / "metrics.json").read_text())
    assert printed["auc"] == pytest.approx(trained["auc"], abs=1e-9)
    assert printed["embedding"] == "robe"


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], expected: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert expected in err
    assert "Traceback" not in err


def test_plain_terabyte_tables_are_refused_before_reading(tmp_path: Path, capsys):
    data = tmp_path / "tb.tsv"
    data.write_text("0" + "\t" * 39 + "\n")
    _one_line_error(
        capsys,
        [
            "train",
            "--data",
            str(data),
            "--schema",
            "criteo-terabyte",
            "--embedding",
            "full",
            "--out",
            str(tmp_path / "run"),
        ],
        "GB of tables",
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--schema", "criteo-mega"], "unknown schema 'criteo-mega'"),
        (["--compression", "0.5"], "--compression must be >= 1"),
        (["--epochs", "0"], "--epochs must be >= 1"),
    ],
)
def test_bad_flags(tmp_path: Path, capsys, args: list[str], expected: str):
    data = tmp_path / "d.tsv"
    data.write_text("0" + "\t" * 39 + "\n")
    argv = ["train", "--data", str(data), "--embedding", "robe", "--out", str(tmp_path / "r")]
    _one_line_error(capsys, argv + args, expected)


def test_missing_data_path(tmp_path: Path, capsys):
    missing = tmp_path / "nowhere"
    _one_line_error(
        capsys,
        ["train", "--data", str(missing), "--embedding", "robe", "--out", str(tmp_path / "r")],
        str(missing),
    )


def test_evaluate_missing_checkpoint(tmp_path: Path, capsys):
    _one_line_error(
        capsys,
        ["evaluate", "--checkpoint", str(tmp_path), "--data", str(tmp_path)],
        "no checkpoint here",
    )

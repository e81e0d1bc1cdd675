"""Data-parallel training: a real two-process torchrun job on CPU (gloo)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from robe.train.launch import without_nproc

SAMPLE = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "criteo"
SAMPLE = SAMPLE / "kaggle_train_sample_10k.txt"


def _sample_head(tmp_path: Path, lines: int) -> Path:
    """The first `lines` lines of the shared Criteo sample, as a file of their own."""
    data = tmp_path / "rows.tsv"
    data.write_text("".join(SAMPLE.read_text().splitlines(keepends=True)[:lines]))
    return data


def test_without_nproc_drops_the_flag_and_its_value():
    argv = ["train", "--nproc", "2", "--data", "d", "--nproc=3", "--out", "o"]
    assert without_nproc(argv) == ["train", "--data", "d", "--out", "o"]


@pytest.mark.slow
@pytest.mark.skipif(not SAMPLE.is_file(), reason=f"no Criteo sample at {SAMPLE}")
def test_two_processes_split_the_rows_and_rank_zero_writes(tmp_path: Path):
    data = _sample_head(tmp_path, 3001)
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "robe.cli.main",
        "train",
        "--nproc",
        "2",
        "--data",
        str(data),
        "--embedding",
        "robe",
        "--preset",
        "small",
        "--epochs",
        "2",
        "--batch-size",
        "16",  # 8 rows per rank and step: rank 0 takes one step more (uneven inputs)
        "--val-rows",
        "1000",
        "--no-progress",
        "--out",
        str(out),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    assert metrics["rows_per_rank"] == [1001, 1000]
    assert metrics["train_rows"] == 2001 and metrics["val_rows"] == 1000
    assert metrics["rows_trained"] == 2001 * metrics["epochs_run"]
    assert 0.5 < metrics["auc"] <= 1.0
    assert (out / "checkpoint" / "model.safetensors").is_file()
    assert done.stdout.count('"world_size": 2') == 1  # rank 0 alone prints the run


@pytest.mark.slow
@pytest.mark.skipif(not SAMPLE.is_file(), reason=f"no Criteo sample at {SAMPLE}")
def test_plain_tables_under_torchrun_are_one_line_errors(tmp_path: Path):
    data = _sample_head(tmp_path, 300)
    schema = tmp_path / "schema.json"
    schema.write_text(
        json.dumps(
            {
                "name": "tiny",
                "dim": 8,
                "dense": [{"name": f"I{i}", "side": "user"} for i in range(1, 14)],
                "sparse": [{"name": f"C{i}", "side": "item", "size": 50} for i in range(1, 27)],
            }
        )
    )
    command = [
        sys.executable, "-m", "robe.cli.main", "train", "--nproc", "2", "--data", str(data),
        "--schema", str(schema), "--embedding", "full", "--val-rows", "100", "--no-progress",
        "--out", str(tmp_path / "run"),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.startswith("robe train: error: plain tables (--embedding full) cannot")
    assert done.stderr.count("\n") == 1

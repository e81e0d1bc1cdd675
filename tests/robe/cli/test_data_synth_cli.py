import json
from pathlib import Path

import pytest

from robe.cli.main import main


def test_synth_prints_the_stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "data"
    argv = [
        "data",
        "synth",
        "--schema",
        "criteo-kaggle",
        "--rows",
        "300",
        "--seed",
        "2",
        "--out",
        str(out),
        "--gzip",
        "--users",
        "40",
        "--items",
        "10",
    ]
    assert main(argv) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats == json.loads((out / "stats.json").read_text())
    assert (stats["rows"], stats["users"], stats["items"], stats["seed"]) == (300, 40, 10, 2)
    assert (out / "part-00000.tsv.gz").is_file()


@pytest.mark.parametrize(
    "extra",
    [["--rows", "0"], ["--rows", "10", "--shards", "-1"], ["--rows", "10", "--users", "-1"]],
)
def test_bad_input_is_one_stderr_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str]
) -> None:
    argv = ["data", "synth", "--schema", "criteo-kaggle", "--out", str(tmp_path / "x"), *extra]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("robe data: error: --")


def test_foreign_out_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "keep.txt").write_text("x")
    argv = ["data", "synth", "--schema", "criteo-kaggle", "--rows", "10", "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "keep.txt" in capsys.readouterr().err

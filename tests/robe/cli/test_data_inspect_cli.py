import json
from pathlib import Path

import pytest

from robe.cli.main import main
from tests.robe.data.criteo_lines import SAMPLE_POSITIVES, SAMPLE_ROWS, line, sample_path


def test_inspect_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "inspect", str(sample_path())]) == 0
    out, err = capsys.readouterr()
    assert f"rows       {SAMPLE_ROWS:,}" in out
    assert f"positives  {SAMPLE_POSITIVES:,} (CTR 0.2182)" in out
    assert err == ""


def test_inspect_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "inspect", str(sample_path()), "--json", "--schema", "criteo-kaggle"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["rows"], data["positives"], data["schema"]) == (10_000, 2_182, "criteo-kaggle")


def test_skip_bad_rows_summary_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "a.tsv"
    path.write_text(line("1") + "\n" + line("7") + "\n" + line("0") + "\n")
    assert main(["data", "inspect", str(path), "--skip-bad-rows"]) == 0
    out, err = capsys.readouterr()
    assert "rows       2" in out
    assert err.splitlines() == [
        f"robe data: skipped 1 bad rows (first: {path}:2: label must be 0 or 1, got '7')"
    ]


def one_error_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err
    return err.strip()


def test_bad_row_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "a.tsv"
    path.write_text(line("1") + "\n" + line("0", dense=["1"] * 4 + ["abc"] + ["1"] * 8) + "\n")
    err = one_error_line(["data", "inspect", str(path)], capsys)
    assert err == f"robe data: error: {path}:2: I5: not a number: 'abc'"


def test_unknown_schema_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    err = one_error_line(["data", "inspect", str(sample_path()), "--schema", "nope"], capsys)
    assert err.startswith("robe data: error: unknown schema 'nope'")


def test_missing_path_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = one_error_line(["data", "inspect", str(tmp_path / "nope")], capsys)
    assert err == f"robe data: error: {tmp_path / 'nope'}: no such file or folder"


def test_empty_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.tsv"
    path.write_text("")
    err = one_error_line(["data", "inspect", str(path)], capsys)
    assert err == f"robe data: error: {path}: empty file, no rows"

"""`robe data schema`, `robe data catalog`, and every bad bring-your-own-data input as one
line on stderr, exit 2, no traceback."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from robe.cli.main import main
from robe.schema import load_schema
from tests.robe.cli.test_data_inspect_cli import one_error_line
from tests.robe.data.criteo_lines import line
from tests.robe.data.movielens import write_ratings


@pytest.fixture(scope="module")
def ratings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ml") / "ratings.csv"
    write_ratings(path, rows=3000)
    return path


def schema_argv(data: Path, label: str, tmp_path: Path, *extra: str) -> list[str]:
    """`robe data schema` on `data` with `label`, writing tmp_path/s.json."""
    out = str(tmp_path / "s.json")
    return ["data", "schema", "--data", str(data), "--label", label, *extra, "--out", out]


SCHEMA_ARGS = ["--label", "rating", "--user-key", "user_id", "--item-key", "item_id"]


def test_schema_inference(
    ratings: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "schema.json"
    argv = ["data", "schema", "--data", str(ratings), *SCHEMA_ARGS, "--time", "timestamp"]
    assert main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "rule: rating >= 4" in printed and "label: 1 when rating >= 4" in printed
    schema = load_schema(out)
    kinds = {f.name: ("dense", f.side) for f in schema.dense}
    kinds |= {f.name: ("sparse", f.side) for f in schema.sparse}
    assert kinds == {
        "user_id": ("sparse", "user"),
        "age": ("dense", "user"),
        "gender": ("sparse", "user"),
        "item_id": ("sparse", "item"),
        "genres": ("sparse", "item"),
        "year": ("dense", "item"),
    }
    genres = next(f for f in schema.sparse if f.name == "genres")
    assert (genres.separator, genres.max_values, genres.hex) == ("|", 3, False)
    assert schema.source.time == "timestamp" and schema.source.label.value == 4
    users = next(f for f in schema.sparse if f.name == "user_id")
    assert users.size >= 2 * 250  # headroom over the observed ids
    assert main(["data", "inspect", str(ratings), "--schema", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    sparse = {f["name"]: f for f in report["sparse"]}
    assert sparse["genres"]["distinct"] == 8 and sparse["gender"]["distinct"] == 2
    assert report["rows"] == 3000


def test_catalog_latest_row_wins(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "r.csv"
    data.write_text("user,item,genres,price,label\n1,10,A|B,3.5,1\n2,11,C,1,0\n3,10,B,4,1\n")
    schema = tmp_path / "schema.json"
    schema.write_text(
        json.dumps(
            {
                "name": "r",
                "dim": 8,
                "source": {"format": "csv", "label": {"column": "label"}},
                "dense": [{"name": "price", "side": "item"}],
                "sparse": [
                    {"name": "user", "side": "user", "size": 16},
                    {"name": "item", "side": "item", "size": 16},
                    {
                        "name": "genres",
                        "side": "item",
                        "size": 16,
                        "separator": "|",
                        "max_values": 2,
                    },
                ],
            }
        )
    )
    items = tmp_path / "items.jsonl"
    assert (
        main(
            [
                "data",
                "catalog",
                "--data",
                str(data),
                "--schema",
                str(schema),
                "--item-key",
                "item",
                "--out",
                str(items),
            ]
        )
        == 0
    )
    capsys.readouterr()
    lines = [json.loads(x) for x in items.read_text().splitlines()]
    assert lines == [
        {"item_id": "10", "features": {"price": 4, "item": "10", "genres": "B"}},
        {"item_id": "11", "features": {"price": 1, "item": "11", "genres": "C"}},
    ]


def test_missing_label_column(
    ratings: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = schema_argv(ratings, "stars", tmp_path)
    err = one_error_line(argv, capsys)
    assert "no column 'stars' (given to --label)" in err and "the file has user_id" in err


def test_unknown_ignored_column(
    ratings: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "data",
        "schema",
        "--data",
        str(ratings),
        *SCHEMA_ARGS,
        "--ignore",
        "zip",
        "--out",
        str(tmp_path / "s.json"),
    ]
    assert "no column 'zip' (given to --ignore)" in one_error_line(argv, capsys)


def test_one_class_label(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "r.csv"
    data.write_text("user,item,rating\n1,2,5\n2,3,5\n")
    argv = schema_argv(data, "rating", tmp_path)
    err = one_error_line(argv, capsys)
    assert "single value 5" in err and "one class" in err


def test_unsorted_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "r.csv"
    data.write_text("user,item,label,ts\n1,2,1,5\n2,3,0,4\n")
    argv = schema_argv(data, "label", tmp_path, "--time", "ts")
    assert "sort the file by ts" in one_error_line(argv, capsys)


def test_missing_schema_is_not_silently_criteo(
    ratings: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--data", str(ratings), "--embedding", "robe", "--out", str(tmp_path / "run")]
    err = one_error_line(argv, capsys)
    assert "no schema.json beside the data" in err and "robe data schema --data" in err


def test_unknown_column_in_a_schema(
    ratings: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = tmp_path / "s.json"
    assert main(["data", "schema", "--data", str(ratings), *SCHEMA_ARGS, "--out", str(schema)]) == 0
    raw = json.loads(schema.read_text())
    raw["dense"][0]["column"] = "agee"
    schema.write_text(json.dumps(raw))
    capsys.readouterr()
    argv = [
        "train",
        "--data",
        str(ratings),
        "--schema",
        str(schema),
        "--embedding",
        "robe",
        "--out",
        str(tmp_path / "run"),
    ]
    err = one_error_line(argv, capsys)
    assert "no column 'agee'" in err and "fix the schema's column names" in err


def test_header_row_in_headerless_criteo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "day.tsv"
    header = "\t".join(
        ["label", *(f"I{i}" for i in range(1, 14)), *(f"C{i}" for i in range(1, 27))]
    )
    path.write_text(header + "\n" + line("1") + "\n")
    err = one_error_line(["data", "inspect", str(path)], capsys)
    assert f"{path}:1: looks like a header row (label, I1, I2, I3 ...)" in err
    assert "delete that line" in err


def test_parquet_without_pyarrow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    data = tmp_path / "r.parquet"
    data.write_bytes(b"PAR1")
    argv = schema_argv(data, "y", tmp_path)
    err = one_error_line(argv, capsys)
    assert "reading Parquet needs pyarrow" in err and "pip install" in err


def test_text_times_are_ordered_as_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "r.csv"
    data.write_text("user,item,label,day\n1,2,1,2024-01-09\n2,3,0,2024-01-10\n3,3,1,\n")
    argv = ["data", "schema", "--data", str(data), "--label", "label", "--time", "day"]
    assert main([*argv, "--out", str(tmp_path / "s.json")]) == 0
    capsys.readouterr()
    data.write_text("user,item,label,day\n1,2,1,2024-01-10\n2,3,0,2024-01-09\n")
    err = one_error_line([*argv, "--out", str(tmp_path / "t.json")], capsys)
    assert "sort the file by day" in err


def test_headerless_file_named_by_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    data = tmp_path / "u.data"  # MovieLens-100k's layout: tab-separated, no header row
    data.write_text("".join(f"{u}\t{u % 7}\t{1 + u % 5}\t{1000 + u}\n" for u in range(60)))
    argv = schema_argv(data, "rating", tmp_path, "--columns", "user_id,item_id,rating,ts")
    assert main([*argv, "--delimiter", "tab", "--time", "ts", "--user-key", "user_id"]) == 0
    schema = load_schema(tmp_path / "s.json")
    assert schema.source.header is False and schema.source.delimiter == "\t"
    assert schema.source.columns == ("user_id", "item_id", "rating", "ts")
    assert [f.name for f in schema.sparse] == ["user_id", "item_id"]
    capsys.readouterr()
    # the first line is data, not a header: a bad row is numbered as the file's line
    data.write_text("1\t2\t5\t1000\n2\t3\t4\n")
    err = one_error_line([*argv, "--delimiter", "tab"], capsys)
    assert f"{data}:2: expected 4 fields, got 3" in err


def test_delimiter_must_be_one_character(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    data = tmp_path / "r.csv"
    data.write_text("user,item,label\n1,2,1\n2,3,0\n")
    err = one_error_line([*schema_argv(data, "label", tmp_path), "--delimiter", "::"], capsys)
    assert "--delimiter '::': give one character, or 'tab'" in err

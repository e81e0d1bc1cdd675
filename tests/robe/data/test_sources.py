"""The schema's source: CSV/TSV (header or not, gzip) and Parquet read to the same rows."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from robe.data.fit import fit_schema
from robe.data.reader import read_rows
from robe.data.rows import bags
from robe.errors import DataError
from robe.keys import MISSING_KEY, PAD_KEY, text_key
from robe.schema import Schema

HEADER = ["uid", "age", "genres", "score", "ts"]
ROWS = [
    ["196", "30", "Action|Comedy", "4", "1"],
    ["7", "", "Drama", "2", "2"],
    ["u-9", "61", "", "5", "3"],
    ["196", "45", "Comedy|Drama|Horror", "1", "4"],
]


def schema_dict(fmt: str = "csv", **source: object) -> dict[str, object]:
    return {
        "name": "t",
        "dim": 8,
        "source": {
            "format": fmt,
            "label": {"column": "score", "op": ">=", "value": 4},
            "time": "ts",
            **source,
        },
        "dense": [
            {"name": "age", "side": "user", "transform": "standardize"},
            {
                "name": "age_bucket",
                "column": "age",
                "side": "user",
                "transform": "bucketize",
                "size": 4,
            },
        ],
        "sparse": [
            {"name": "user", "column": "uid", "side": "user", "size": 100},
            {"name": "genres", "side": "item", "size": 20, "separator": "|", "max_values": 3},
        ],
    }


def write_csv(path: Path, rows: list[list[str]], delimiter: str = ",", header: bool = True) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", newline="") as fh:
        out = csv.writer(fh, delimiter=delimiter)
        if header:
            out.writerow(HEADER)
        out.writerows(rows)
    return path


def fitted(path: Path, raw: dict[str, object]) -> Schema:
    return fit_schema(path, Schema.from_dict(raw), held=0)


def test_csv_rows_labels_bags_and_transforms(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", ROWS)
    schema = fitted(path, schema_dict())
    age = schema.dense[0]
    assert age.mean is not None and age.std is not None
    assert age.mean == pytest.approx(np.mean([30, 61, 45]))
    assert schema.sparse[2].boundaries == pytest.approx(
        tuple(np.quantile([30, 61, 45], [0.25, 0.5, 0.75]))
    )
    rows = read_rows(path, schema)
    assert rows.labels.tolist() == [1, 0, 1, 0]
    assert rows.dense[1, 0] == 0.0  # missing -> the mean after standardize
    assert rows.dense[0, 0] == pytest.approx((30 - age.mean) / age.std)
    assert rows.widths == (1, 3, 1)
    k = rows.keys
    assert k[0, 0] == k[3, 0] == 196 and k[2, 0] == text_key("u-9", hex_tokens=False)
    assert k[0, 1:4].tolist() == [
        text_key("Action", hex_tokens=False),
        text_key("Comedy", hex_tokens=False),
        PAD_KEY,
    ]
    assert k[2, 1:4].tolist() == [MISSING_KEY, PAD_KEY, PAD_KEY]
    assert k[1, 4] == MISSING_KEY and k[0, 4] == 0 and k[2, 4] == 3
    values, offsets = bags(rows.keys, rows.widths)
    assert offsets.tolist() == [0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15]
    assert values.size == 15 and PAD_KEY not in values


def test_formats_read_the_same_rows(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    base = tmp_path / "r.csv"
    write_csv(base, ROWS)
    schema = fitted(base, schema_dict())
    want = read_rows(base, schema)
    fitted_dict = schema.to_dict()

    def same(path: Path, **source: object) -> None:
        raw = json.loads(json.dumps(fitted_dict))
        raw["source"].update(source)
        got = read_rows(path, Schema.from_dict(raw))
        for a, b in ((got.labels, want.labels), (got.dense, want.dense), (got.keys, want.keys)):
            np.testing.assert_array_equal(a, b)

    same(write_csv(tmp_path / "r.csv.gz", ROWS))
    same(write_csv(tmp_path / "r.tsv", ROWS, delimiter="\t"), format="tsv", delimiter="\t")
    same(
        write_csv(tmp_path / "n.tsv", ROWS, delimiter="\t", header=False),
        format="tsv",
        delimiter="\t",
        header=False,
        columns=HEADER,
    )
    table = pa.table(
        {
            "uid": [196, 7, None, 196],  # integers read like the CSV text "196"
            "age": [30.0, None, 61.0, 45.0],
            "genres": [["Action", "Comedy"], ["Drama"], None, ["Comedy", "Drama", "Horror"]],
            "score": [4, 2, 5, 1],
            "ts": [1, 2, 3, 4],
        }
    )
    pq.write_table(table, tmp_path / "r.parquet", row_group_size=2)
    raw = json.loads(json.dumps(fitted_dict))
    raw["source"] = {"format": "parquet", "label": raw["source"]["label"], "time": "ts"}
    got = read_rows(tmp_path / "r.parquet", Schema.from_dict(raw))
    np.testing.assert_array_equal(got.keys[[0, 1, 3]], want.keys[[0, 1, 3]])
    assert got.keys[2, 0] == MISSING_KEY
    np.testing.assert_array_equal(got.dense, want.dense)


def bad(tmp_path: Path, raw: dict[str, object], rows: list[list[str]], header: bool = True) -> str:
    path = write_csv(tmp_path / "bad.csv", rows, header=header)
    with pytest.raises(DataError) as info:
        read_rows(path, fit_schema(path, Schema.from_dict(raw), held=0))
    return str(info.value)


def test_unknown_column_names_the_fix(tmp_path: Path) -> None:
    raw = schema_dict()
    raw["dense"] = [{"name": "agee", "side": "user"}]
    message = bad(tmp_path, raw, ROWS)
    assert "no column 'agee'" in message and "robe data schema" in message


def test_header_row_in_a_headerless_file(tmp_path: Path) -> None:
    raw = schema_dict(header=False, columns=HEADER)
    message = bad(tmp_path, raw, ROWS, header=True)
    assert "looks like a header row" in message and '"header": true' in message


def test_rows_out_of_time_order(tmp_path: Path) -> None:
    rows = [*ROWS[:2], [*ROWS[2][:4], "0"]]
    assert "not in time order" in bad(tmp_path, schema_dict(), rows)


def test_too_many_values_is_a_bad_row(tmp_path: Path) -> None:
    rows = [["1", "3", "a|b|c|d", "4", "1"], *ROWS[1:]]
    assert "4 values for 'genres'" in bad(tmp_path, schema_dict(), rows)


def test_parquet_without_pyarrow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    (tmp_path / "r.parquet").write_bytes(b"PAR1")
    raw = schema_dict()
    raw["source"] = {"format": "parquet", "label": {"column": "score", "op": ">=", "value": 4}}
    with pytest.raises(DataError, match=r"needs pyarrow.*pip install"):
        read_rows(tmp_path / "r.parquet", Schema.from_dict(raw))


def test_legacy_schema_json_is_criteo_with_hex_tokens() -> None:
    raw = {
        "name": "old",
        "dim": 8,
        "dense": [{"name": "a", "side": "user"}],
        "sparse": [{"name": "b", "side": "item", "size": 10}],
    }
    schema = Schema.from_dict(raw)
    assert schema.source.format == "criteo" and schema.sparse[0].hex
    assert schema.dense[0].transform == "log1p"
    assert Schema.from_dict(schema.to_dict()) == schema
    byo = Schema.from_dict({**raw, "source": {"format": "csv"}})
    assert not byo.sparse[0].hex
    assert Schema.from_dict(byo.to_dict()) == byo


def test_bucketize_is_a_dense_transform_embedded_as_sparse() -> None:
    schema = Schema.from_dict(schema_dict())
    assert [f.name for f in schema.dense] == ["age"]
    assert [f.name for f in schema.sparse] == ["user", "genres", "age_bucket"]
    assert schema.sparse[2].bucketize and schema.sparse[2].size == 4
    raw = schema.to_dict()
    assert raw["dense"][1] == {
        "name": "age_bucket",
        "side": "user",
        "column": "age",
        "transform": "bucketize",
        "size": 4,
    }
    assert Schema.from_dict(raw) == schema
    misplaced = schema_dict()
    misplaced["sparse"] = [{"name": "x", "side": "user", "size": 4, "bucketize": True}]
    with pytest.raises(ValueError, match="bucketize is a dense transform"):
        Schema.from_dict(misplaced)


def test_inspect_counts_bags_and_bucketized_numbers(tmp_path: Path) -> None:
    from robe.data.inspect import inspect_data

    path = write_csv(tmp_path / "r.csv", ROWS)
    report = inspect_data(path, Schema.from_dict(schema_dict()))
    sparse = {s.name: s for s in report.sparse}
    assert sparse["genres"].distinct == 4  # Action, Comedy, Drama, Horror
    assert sparse["age_bucket"].distinct == 3 and sparse["age_bucket"].missing == 0.25
    assert sparse["user"].distinct == 3
    assert report.rows == 4

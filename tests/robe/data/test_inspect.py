import json
from pathlib import Path

import pytest

from robe.data.inspect import inspect_data
from robe.errors import DataError
from robe.schema import BUILTIN_SCHEMAS, DenseFeature, Schema, SparseFeature
from tests.robe.data.criteo_lines import SAMPLE_POSITIVES, SAMPLE_ROWS, line, sample_path

KAGGLE = BUILTIN_SCHEMAS["criteo-kaggle"]


def test_sample_summary() -> None:
    report = inspect_data(sample_path(), KAGGLE)
    assert report.rows == SAMPLE_ROWS
    assert report.positives == SAMPLE_POSITIVES
    assert report.ctr == pytest.approx(0.2182)
    assert report.skipped == 0
    assert [d.name for d in report.dense] == [f"I{i}" for i in range(1, 14)]
    assert [s.name for s in report.sparse] == [f"C{i}" for i in range(1, 27)]
    assert all(0 < s.distinct <= SAMPLE_ROWS for s in report.sparse)


def test_exact_counts_on_a_small_file(tmp_path: Path) -> None:
    sparse = [f"{i:08x}" for i in range(26)]
    rows = [
        line("1", dense=["4"] + ["1"] * 12, sparse=["aaaaaaaa", "x", *sparse[2:]]),
        line("0", dense=["-2"] + ["1"] * 12, sparse=["aaaaaaaa", "", *sparse[2:]]),
        line("0", dense=[""] + ["1"] * 12, sparse=["bbbbbbbb", "", *sparse[2:]]),
        line("1", dense=["10"] + [""] * 12, sparse=["", "y", *sparse[2:]]),
    ]
    path = tmp_path / "small.tsv"
    path.write_text("\n".join(rows) + "\n")
    report = inspect_data(path, KAGGLE)
    assert (report.rows, report.positives, report.ctr) == (4, 2, 0.5)
    i1, i2 = report.dense[0], report.dense[1]
    assert (i1.missing, i1.mean, i1.min, i1.max) == (0.25, 4.0, -2.0, 10.0)
    assert (i2.missing, i2.mean, i2.min, i2.max) == (0.25, 1.0, 1.0, 1.0)
    c1, c2, c3 = report.sparse[:3]
    assert (c1.distinct, c1.missing) == (2, 0.25)
    assert (c2.distinct, c2.missing) == (2, 0.5)
    assert (c3.distinct, c3.missing) == (1, 0.0)


def test_all_missing_dense_feature(tmp_path: Path) -> None:
    path = tmp_path / "blank.tsv"
    path.write_text(line("0", dense=[""] * 13) + "\n")
    report = inspect_data(path, KAGGLE)
    assert report.dense[0].missing == 1.0
    assert report.dense[0].mean is None
    assert "I1" in report.format()


def test_shards_summarise_like_one_file(tmp_path: Path) -> None:
    lines = sample_path().read_text().splitlines(keepends=True)
    for k, start in enumerate(range(0, SAMPLE_ROWS, 4000)):
        (tmp_path / f"part-{k}.tsv").write_text("".join(lines[start : start + 4000]))
    whole = inspect_data(sample_path(), KAGGLE).to_dict()
    split = inspect_data(tmp_path, KAGGLE).to_dict()
    assert split["files"] == 3
    for key in ("path", "files"):
        del whole[key], split[key]
    assert split == whole


def test_to_dict_is_json_and_format_is_a_table(tmp_path: Path) -> None:
    path = tmp_path / "a.tsv"
    path.write_text(line("1") + "\n" + line("7") + "\n")
    report = inspect_data(path, KAGGLE, skip_bad_rows=True)
    data = json.loads(json.dumps(report.to_dict()))
    assert (data["rows"], data["skipped"], data["ctr"]) == (1, 1, 1.0)
    assert data["skip_examples"] == [f"{path}:2: label must be 0 or 1, got '7'"]
    text = report.format()
    assert "rows       1" in text
    assert "skipped    1 bad rows" in text
    table = [row for row in text.splitlines() if row.startswith(("C", "I"))]
    assert len(table) == 39
    assert len({len(row) for row in table if row.startswith("C")}) == 1


def test_bad_row_is_an_error_by_default(tmp_path: Path) -> None:
    path = tmp_path / "a.tsv"
    path.write_text(line("1") + "\n" + line("7") + "\n")
    with pytest.raises(DataError, match=":2: label must be 0 or 1"):
        inspect_data(path, KAGGLE)


def test_format_aligns_long_feature_names(tmp_path: Path) -> None:
    schema = Schema(
        name="long",
        dense=(DenseFeature("a_rather_long_dense_name", "user"),),
        sparse=(SparseFeature("x", "item", 10), SparseFeature("another_long_name", "user", 10)),
        dim=4,
    )
    path = tmp_path / "a.tsv"
    path.write_text("1\t3\tab\tcd\n0\t\tab\t\n")
    text = inspect_data(path, schema).format()
    sparse_rows = [row for row in text.splitlines() if row.startswith(("x ", "another"))]
    assert len(sparse_rows) == 2
    assert len({len(row) for row in sparse_rows}) == 1
    assert "a_rather_long_dense_name  user" in text

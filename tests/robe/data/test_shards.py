from pathlib import Path

import pytest

from robe.data.reader import resolve_schema
from robe.data.shards import list_shards
from robe.errors import DataError
from robe.schema import BUILTIN_SCHEMAS, criteo_schema


def test_single_file(tmp_path: Path) -> None:
    path = tmp_path / "anything.bin"
    path.write_text("x\n")
    assert list_shards(path) == [path]


def test_folder_lists_data_files_sorted(tmp_path: Path) -> None:
    names = ["b.tsv", "a.txt", "c.tsv.gz", "d.txt.gz", "e.gz"]
    ignored = ["schema.json", "items.jsonl", "stats.json", "notes.md", ".hidden.tsv"]
    for name in names + ignored:
        (tmp_path / name).write_text("")
    (tmp_path / "sub.tsv").mkdir()
    assert list_shards(tmp_path) == [tmp_path / n for n in sorted(names)]


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=rf"^{tmp_path / 'nope'}: no such file or folder$"):
        list_shards(tmp_path / "nope")


def test_folder_without_shards(tmp_path: Path) -> None:
    (tmp_path / "schema.json").write_text("{}")
    with pytest.raises(DataError, match=rf"^{tmp_path}: folder holds no data shards"):
        list_shards(tmp_path)


def test_resolve_schema_prefers_the_argument(tmp_path: Path) -> None:
    BUILTIN_SCHEMAS["criteo-terabyte"].save(tmp_path / "schema.json")
    assert resolve_schema(tmp_path, "criteo-kaggle").name == "criteo-kaggle"


def test_resolve_schema_beside_the_data(tmp_path: Path) -> None:
    custom = criteo_schema("custom", tuple(range(1, 27)), dim=8)
    custom.save(tmp_path / "schema.json")
    (tmp_path / "part-0.tsv").write_text("")
    assert resolve_schema(tmp_path, None) == custom
    assert resolve_schema(tmp_path / "part-0.tsv", None) == custom


def test_resolve_schema_defaults_to_kaggle(tmp_path: Path) -> None:
    assert resolve_schema(tmp_path, None) == BUILTIN_SCHEMAS["criteo-kaggle"]
    assert resolve_schema(tmp_path / "missing.tsv", None) == BUILTIN_SCHEMAS["criteo-kaggle"]


def test_resolve_schema_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown schema 'nope'"):
        resolve_schema(tmp_path, "nope")

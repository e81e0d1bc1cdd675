import gzip
import hashlib
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import robe.data.synth as synth
from robe.data.synth import SynthConfig, synthesize
from robe.data.synth_params import STREAM_ROWS
from robe.data.synth_world import World
from robe.errors import RobeError
from robe.metrics import auc
from robe.schema import BUILTIN_SCHEMAS, Schema, SparseFeature

KAGGLE = BUILTIN_SCHEMAS["criteo-kaggle"]
HEX8 = re.compile(r"[0-9a-f]{8}")


def small(out: Path, **changes: Any) -> SynthConfig:
    config = SynthConfig(schema=KAGGLE, rows=4000, seed=3, out=out, users=200, items=50)
    return replace(config, **changes)


def read_lines(out: Path) -> list[list[str]]:
    lines: list[list[str]] = []
    for path in sorted(out.glob("part-*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as f:
            lines += [line.rstrip("\n").split("\t") for line in f]
    return lines


def digests(out: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.iterdir())
        if p.name != "stats.json"  # it records the run time
    }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[SynthConfig, dict[str, object]]:
    config = small(tmp_path_factory.mktemp("synth") / "out")
    return config, synthesize(config)


def test_files_and_stats(dataset: tuple[SynthConfig, dict[str, object]]) -> None:
    config, stats = dataset
    names = sorted(p.name for p in config.out.iterdir())
    assert names == ["items.jsonl", "part-00000.tsv", "schema.json", "stats.json"]
    assert json.loads((config.out / "stats.json").read_text()) == stats
    assert json.loads((config.out / "schema.json").read_text()) == KAGGLE.to_dict()
    assert stats["rows"] == 4000
    assert stats["users"] == 200
    assert stats["items"] == 50
    assert stats["schema"] == "criteo-kaggle"
    assert stats["generator"] == synth.GENERATOR_VERSION
    assert 0.15 < float(stats["ctr"]) < 0.3  # type: ignore[arg-type]
    assert float(stats["bayes_auc"]) > 0.7  # type: ignore[arg-type]


def test_lines_are_criteo_format(dataset: tuple[SynthConfig, dict[str, object]]) -> None:
    config, stats = dataset
    lines = read_lines(config.out)
    assert len(lines) == 4000
    assert {len(fields) for fields in lines} == {KAGGLE.num_columns}
    labels = [int(fields[0]) for fields in lines]
    assert set(labels) == {0, 1}
    assert sum(labels) == stats["positives"]
    dense = [f for fields in lines for f in fields[1 : 1 + KAGGLE.num_dense]]
    assert all(f == "" or (f.isdigit() and int(f) >= 0) for f in dense)
    sparse = [f for fields in lines for f in fields[1 + KAGGLE.num_dense :]]
    assert all(f == "" or HEX8.fullmatch(f) for f in sparse)
    # Missing values occur, as in Criteo, but are not the norm.
    assert 0.01 < dense.count("") / len(dense) < 0.5
    assert 0.01 < sparse.count("") / len(sparse) < 0.5


def test_bayes_auc_is_the_auc_of_the_true_probabilities(
    dataset: tuple[SynthConfig, dict[str, object]],
) -> None:
    config, stats = dataset
    world = World(KAGGLE, config.seed, config.num_users, config.num_items)
    rows = world.rows(STREAM_ROWS, 0, config.rows)  # 4000 rows: one chunk
    labels = [int(fields[0]) for fields in read_lines(config.out)]
    np.testing.assert_array_equal(rows.labels, labels)
    np.testing.assert_allclose(rows.probability, 1 / (1 + np.exp(-rows.logit)))
    assert stats["bayes_auc"] == auc(labels, rows.probability)


FEATURES = [(f.name, f.side) for f in KAGGLE.dense] + [(f.name, f.side) for f in KAGGLE.sparse]


def columns(side: str) -> list[int]:
    """TSV field indices of the side's features (field 0 is the label)."""
    return [1 + j for j, (_, s) in enumerate(FEATURES) if s == side]


def test_items_match_the_item_columns_of_rows(
    dataset: tuple[SynthConfig, dict[str, object]],
) -> None:
    config, _ = dataset
    catalog = [json.loads(line) for line in (config.out / "items.jsonl").read_text().splitlines()]
    assert [c["item_id"] for c in catalog] == [f"item-{i:06d}" for i in range(50)]
    item_names = [name for name, side in FEATURES if side == "item"]
    assert all(list(c["features"]) == item_names for c in catalog)
    as_field = {None: ""}
    catalog_rows = {tuple(as_field.get(v, str(v)) for v in c["features"].values()) for c in catalog}
    assert len(catalog_rows) == 50  # the id-like feature makes every item distinct
    seen = {tuple(fields[j] for j in columns("item")) for fields in read_lines(config.out)}
    assert seen == catalog_rows  # every row is a catalog item, every item occurs


def test_user_features_are_fixed_per_user(dataset: tuple[SynthConfig, dict[str, object]]) -> None:
    config, _ = dataset
    user_cols = columns("user")
    user_id = 1 + KAGGLE.num_dense + 2  # C3, the largest user-side table
    assert user_id in user_cols
    profiles: dict[str, set[tuple[str, ...]]] = {}
    for fields in read_lines(config.out):
        profiles.setdefault(fields[user_id], set()).add(tuple(fields[j] for j in user_cols))
    assert 20 < len(profiles) <= 200
    assert all(len(p) == 1 for p in profiles.values())
    # Context features vary within a user's rows.
    context = columns("context")
    per_user = {tuple(fields[j] for j in context) for fields in read_lines(config.out)}
    assert len(per_user) > len(profiles)


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path) -> None:
    a, b, c = small(tmp_path / "a"), small(tmp_path / "b"), small(tmp_path / "c", seed=4)
    for config in (a, b, c):
        synthesize(config)
    assert digests(a.out) == digests(b.out)
    other = digests(c.out)
    assert other["part-00000.tsv"] != digests(a.out)["part-00000.tsv"]
    assert other["items.jsonl"] != digests(a.out)["items.jsonl"]


def test_shards_split_the_same_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synth, "CHUNK_ROWS", 700)  # shard edges fall inside chunks
    one = small(tmp_path / "one")
    three = small(tmp_path / "three", shards=3)
    synthesize(one)
    stats = synthesize(three)
    parts = sorted(three.out.glob("part-*.tsv"))
    assert [p.name for p in parts] == ["part-00000.tsv", "part-00001.tsv", "part-00002.tsv"]
    assert stats["shards"] == 3
    assert b"".join(p.read_bytes() for p in parts) == (one.out / "part-00000.tsv").read_bytes()
    assert [len(p.read_bytes().splitlines()) for p in parts] == [1333, 1333, 1334]


def test_gzip_shards_hold_the_plain_bytes(
    tmp_path: Path, dataset: tuple[SynthConfig, dict[str, object]]
) -> None:
    config = small(tmp_path / "gz", compress=True)
    synthesize(config)
    with gzip.open(config.out / "part-00000.tsv.gz", "rb") as f:
        assert f.read() == (dataset[0].out / "part-00000.tsv").read_bytes()


def test_default_sizes_scale_with_rows(tmp_path: Path) -> None:
    config = SynthConfig(schema=KAGGLE, rows=2_500_000, seed=0, out=tmp_path)
    assert (config.num_shards, config.num_users, config.num_items) == (3, 125_000, 25_000)
    assert SynthConfig(schema=KAGGLE, rows=10, seed=0, out=tmp_path).num_shards == 1


def test_terabyte_schema_runs_without_cardinality_sized_memory(tmp_path: Path) -> None:
    config = SynthConfig(
        schema=BUILTIN_SCHEMAS["criteo-terabyte"], rows=1500, seed=1, out=tmp_path / "tb"
    )
    stats = synthesize(config)
    lines = read_lines(config.out)
    assert len(lines) == 1500
    assert {len(fields) for fields in lines} == {40}
    assert float(stats["bayes_auc"]) > 0.7


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rows": 0}, "--rows must be positive, got 0"),
        ({"shards": -1}, "--shards must be"),
        ({"shards": 5000}, "--shards 5000 is more than --rows 4000"),
        ({"users": -2}, "--users must be"),
        ({"items": -3}, "--items must be"),
        ({"seed": -1}, "--seed must be non-negative"),
    ],
)
def test_bad_config_is_refused(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        small(tmp_path, **changes)


def test_foreign_folders_are_refused_synth_folders_rewritten(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"notes\.txt"):
        synthesize(small(foreign))
    assert (foreign / "notes.txt").read_text() == "mine"
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        synthesize(small(a_file))
    with pytest.raises(RobeError, match="cannot write"):
        synthesize(small(a_file / "below"))
    out = tmp_path / "again"
    synthesize(small(out, shards=2))
    synthesize(small(out))
    assert sorted(p.name for p in out.glob("part-*")) == ["part-00000.tsv"]


def test_minimal_schema_without_dense_or_context(tmp_path: Path) -> None:
    schema = Schema(
        name="tiny",
        dense=(),
        sparse=(SparseFeature("u", "user", 30), SparseFeature("i", "item", 1000)),
        dim=4,
    )
    # More users than the user table: ids repeat, nothing breaks.
    config = SynthConfig(schema=schema, rows=3000, seed=5, out=tmp_path, users=100, items=20)
    stats = synthesize(config)
    lines = read_lines(tmp_path)
    assert {len(fields) for fields in lines} == {3}
    assert len({fields[1] for fields in lines}) == 30
    assert len({fields[2] for fields in lines}) == 20
    assert stats["schema"] == "tiny"
    assert 0.1 < stats["ctr"] < 0.35

"""The reader on what `robe data synth` writes: shards, gzip, schema.json beside them."""

import gzip
from pathlib import Path

import pytest

from robe.data.inspect import inspect_data
from robe.data.reader import read_rows, resolve_schema
from robe.data.rows import Rows
from robe.data.synth import SynthConfig, synthesize
from robe.schema import BUILTIN_SCHEMAS, DenseFeature, Schema, SparseFeature
from tests.robe.data.criteo_lines import assert_rows_equal, reference_rows

TINY = Schema(
    name="tiny",
    dense=(DenseFeature("age", "user"), DenseFeature("price", "item")),
    sparse=(
        SparseFeature("user_id", "user", 300),
        SparseFeature("item_id", "item", 40),
        SparseFeature("hour", "context", 24),
    ),
    dim=8,
)


@pytest.mark.parametrize("schema", [TINY, BUILTIN_SCHEMAS["criteo-kaggle"]], ids=lambda s: s.name)
@pytest.mark.parametrize("compress", [False, True])
def test_reads_synthetic_shards(tmp_path: Path, schema: Schema, compress: bool) -> None:
    out = tmp_path / "data"
    config = SynthConfig(
        schema=schema, rows=1500, seed=4, out=out, shards=3, compress=compress, users=50, items=20
    )
    stats = synthesize(config)
    resolved = resolve_schema(out, None)
    assert resolved == schema
    rows = read_rows(out, resolved)
    assert len(rows) == stats["rows"]
    assert int(rows.labels.sum()) == stats["positives"]
    report = inspect_data(out, resolved)
    assert (report.rows, report.positives, report.files) == (1500, stats["positives"], 3)

    parts = []
    for shard in sorted(out.glob("part-*")):
        plain = tmp_path / f"{shard.name}.plain"
        plain.write_bytes(gzip.decompress(shard.read_bytes()) if compress else shard.read_bytes())
        parts.append(reference_rows(plain, num_dense=schema.num_dense))
    assert_rows_equal(rows, Rows.concat(parts))

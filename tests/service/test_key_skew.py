"""Train/serve skew: rows from a training file and the same rows as /score JSON (integers,
strings, missing values, multi-valued arrays) become identical model inputs and scores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from robe.checkpoint import ModelSpec, build_model, save_checkpoint
from robe.data.fit import fit_schema
from robe.data.reader import read_rows
from robe.data.rows import bags
from robe.embeddings import EmbeddingConfig
from robe.model import get_preset
from robe.schema import Schema
from service.app import build_app
from service.rows import FeatureLayout
from service.settings import Settings

CSV = """user_id,age,city,item_id,genres,year,rating
196,30,Paris,242,Action|Comedy,1995,4
196,,Paris,302,Drama,,2
7,61,,242,,1970,5
u-9,45,Lyon,51,Comedy|Drama|Horror,1999,1
"""
# The same rows as a client would send them: ids as JSON integers in one copy and as
# strings in the other; missing as null or absent; genres as arrays or joined text.
AS_INTEGERS: list[dict[str, Any]] = [
    {
        "user_id": 196,
        "age": 30,
        "city": "Paris",
        "item_id": 242,
        "genres": ["Action", "Comedy"],
        "year": 1995,
    },
    {"user_id": 196, "age": None, "city": "Paris", "item_id": 302, "genres": ["Drama"]},
    {"user_id": 7, "age": 61, "item_id": 242, "genres": None, "year": 1970},
    {
        "user_id": "u-9",
        "age": 45,
        "city": "Lyon",
        "item_id": 51,
        "genres": "Comedy|Drama|Horror",
        "year": 1999,
    },
]
AS_STRINGS = [
    {k: (str(v) if k in ("user_id", "item_id") else v) for k, v in row.items()}
    for row in AS_INTEGERS
]

SCHEMA = {
    "name": "skew",
    "dim": 8,
    "source": {"format": "csv", "label": {"column": "rating", "op": ">=", "value": 4}},
    "dense": [
        {"name": "age", "side": "user", "transform": "standardize"},
        {"name": "year", "side": "item", "transform": "log1p"},
        {"name": "age_band", "column": "age", "side": "user", "transform": "bucketize", "size": 3},
    ],
    "sparse": [
        {"name": "user_id", "side": "user", "size": 50},
        {"name": "city", "side": "user", "size": 10},
        {"name": "item_id", "side": "item", "size": 50},
        {"name": "genres", "side": "item", "size": 20, "separator": "|", "max_values": 3},
    ],
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Schema, Path]:
    tmp = tmp_path_factory.mktemp("skew")
    data = tmp / "rows.csv"
    data.write_text(CSV)
    schema = fit_schema(data, Schema.from_dict(SCHEMA), held=0)
    preset = get_preset("small")
    emb = EmbeddingConfig.robe_for_compression(schema.table_sizes, preset.dim, 2.0, chunk=4)
    spec = ModelSpec(schema=schema, preset=preset, embedding=emb)
    torch.manual_seed(0)
    model = build_model(spec)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    run = tmp / "run"
    save_checkpoint(run / "checkpoint", model, spec)
    return data, schema, run


@pytest.mark.parametrize("rows", [AS_INTEGERS, AS_STRINGS], ids=["integers", "strings"])
def test_file_and_json_give_identical_model_inputs(trained, rows) -> None:
    data, schema, _ = trained
    from_file = read_rows(data, schema)
    dense, keys = FeatureLayout.of(schema).rows(rows, "rows")
    np.testing.assert_array_equal(dense, from_file.dense)
    np.testing.assert_array_equal(keys, from_file.keys)
    for got, want in zip(
        bags(keys, schema.key_widths), bags(from_file.keys, from_file.widths), strict=True
    ):
        np.testing.assert_array_equal(got, want)


def test_score_is_the_same_for_integers_strings_and_the_file(trained) -> None:
    data, schema, run = trained
    from robe.checkpoint import load_checkpoint

    model, _ = load_checkpoint(run)
    rows = read_rows(data, schema)
    values, offsets = bags(rows.keys, rows.widths)
    with torch.no_grad():
        want = torch.sigmoid(
            model(torch.from_numpy(rows.dense), torch.from_numpy(values), torch.from_numpy(offsets))
        ).numpy()
    with TestClient(build_app(Settings(models=[f"skew={run}"]))) as client:
        by_int = client.post("/score", json={"rows": AS_INTEGERS}).json()["scores"]
        by_str = client.post("/score", json={"rows": AS_STRINGS}).json()["scores"]
    assert by_int == by_str
    np.testing.assert_allclose(by_int, want, rtol=1e-6)


def test_v2_sends_a_bucketized_feature_as_text_and_scores_as_score_does(trained) -> None:
    """The v2 protocol's `sparse` input is BYTES: a bucketized feature arrives as the
    number's text ("30"), read as the file's cell is; a non-number is a 422."""
    _, schema, run = trained
    rows = [AS_INTEGERS[i] for i in (0, 2, 3)]  # every dense value given: JSON has no NaN
    dense = [[row[f.source_column] for f in schema.dense] for row in rows]
    sparse = [
        [
            ""
            if (v := row.get(f.source_column)) is None
            else "|".join(v)
            if isinstance(v, list)
            else str(v)
            for f in schema.sparse
        ]
        for row in rows
    ]
    assert any(f.bucketize for f in schema.sparse)

    def infer(sparse_rows: list[list[str]]) -> Any:
        n = len(sparse_rows)
        inputs = [
            {
                "name": "dense",
                "datatype": "FP32",
                "shape": [n, schema.num_dense],
                "data": [x for r in dense[:n] for x in r],
            },
            {
                "name": "sparse",
                "datatype": "BYTES",
                "shape": [n, schema.num_sparse],
                "data": [x for r in sparse_rows for x in r],
            },
        ]
        return client.post("/v2/models/skew/infer", json={"inputs": inputs})

    with TestClient(build_app(Settings(models=[f"skew={run}"]))) as client:
        want = client.post("/score", json={"rows": rows}).json()["scores"]
        got = infer(sparse)
        assert got.status_code == 200, got.text
        np.testing.assert_allclose(got.json()["outputs"][0]["data"], want, rtol=1e-6)
        band = next(t for t, f in enumerate(schema.sparse) if f.bucketize)
        bad = [list(sparse[0])]
        bad[0][band] = "thirty"
        refused = infer(bad)
        assert refused.status_code == 422
        assert "bucketized feature takes a number" in refused.text

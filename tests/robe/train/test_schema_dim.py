"""A schema's `dim` is the model's embedding width (unless a preset is asked for)."""

from __future__ import annotations

from pathlib import Path

import torch

from robe.checkpoint import build_model
from robe.data.rows import bags
from robe.schema import DenseFeature, Schema, Source, SparseFeature
from robe.train.config import TrainConfig
from robe.train.trainer import model_spec

SCHEMA = Schema(
    name="byo",
    dense=(DenseFeature("age", "user", transform="none"),),
    sparse=(
        SparseFeature("user", "user", 64, hex=False),
        SparseFeature("genres", "item", 16, hex=False, separator="|", max_values=3),
    ),
    dim=16,
    source=Source("csv"),
)


def test_schema_dim_is_the_embedding_dim(tmp_path: Path) -> None:
    spec = model_spec(TrainConfig(data=tmp_path, out=tmp_path, compression=2.0), SCHEMA)
    assert spec.preset.dim == spec.embedding.dim == 16
    assert spec.preset.bottom[-1] == 16
    model = build_model(spec)
    keys = torch.tensor([[5, 1, 2, -(2**63)], [6, 3, -(2**63), -(2**63)]]).numpy()
    values, offsets = bags(keys, SCHEMA.key_widths)
    assert offsets.tolist() == [0, 1, 3, 4, 5]
    out = model(torch.zeros(2, 1), torch.from_numpy(values), torch.from_numpy(offsets))
    assert out.shape == (2,)


def test_an_explicit_preset_keeps_its_dim(tmp_path: Path) -> None:
    config = TrainConfig(data=tmp_path, out=tmp_path, compression=2.0, preset="small")
    assert model_spec(config, SCHEMA).preset.dim == 8

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from robe.checkpoint import ModelSpec, build_model, load_checkpoint, save_checkpoint
from robe.embeddings import EmbeddingConfig
from robe.errors import CheckpointError
from robe.model import get_preset
from robe.schema import load_schema


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    schema = load_schema("criteo-kaggle")
    spec = ModelSpec(
        schema,
        get_preset("small"),
        EmbeddingConfig.robe_for_compression(schema.table_sizes, 8, 10_000, chunk=4),
    )
    model = build_model(spec)
    save_checkpoint(tmp_path / "checkpoint", model, spec)
    return tmp_path, model


def test_round_trip_gives_the_same_scores(saved):
    run, model = saved
    loaded, spec = load_checkpoint(run)
    assert spec.embedding.kind == "robe"
    dense, values = torch.randn(4, 13), torch.randint(0, 2**32, (4 * 26,))
    offsets = torch.arange(4 * 26 + 1)
    model.eval()
    torch.testing.assert_close(loaded(dense, values, offsets), model(dense, values, offsets))


def test_no_pickle_on_disk(saved):
    run, _ = saved
    assert sorted(p.name for p in (run / "checkpoint").iterdir()) == [
        "config.json",
        "model.safetensors",
    ]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "model.safetensors").write_bytes(b"\x00" * 10), "damaged or truncated"),
        (lambda d: (d / "config.json").write_text("{"), "not valid JSON"),
        (lambda d: (d / "model.safetensors").unlink(), "missing model.safetensors"),
        (lambda d: _edit(d, format_version=99), "format version 99 is not supported"),
        (lambda d: _edit(d, format="other"), "not a robe checkpoint"),
        (lambda d: _edit(d, preset={"name": "x"}), "malformed model description"),
    ],
)
def test_damaged_checkpoints_are_refused(saved, damage, message):
    run, _ = saved
    damage(run / "checkpoint")
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(run)


def test_truncated_weights_are_refused(saved):
    run, _ = saved
    path = run / "checkpoint" / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="damaged or truncated"):
        load_checkpoint(run)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint here"):
        load_checkpoint(tmp_path)


def _edit(directory: Path, **changes: object) -> None:
    config = json.loads((directory / "config.json").read_text())
    config.update(changes)
    (directory / "config.json").write_text(json.dumps(config))

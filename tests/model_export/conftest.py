"""Shared fixtures: a tiny schema, checkpoints built in-process, and one trained artifact.

The trained artifact (synthetic data -> `robe train` -> `robe export` with every format
and --verify) is built once per session: the AOTInductor compile dominates the suite.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from robe.checkpoint import ModelSpec, build_model, save_checkpoint
from robe.cli.main import main
from robe.embeddings import EmbeddingConfig
from robe.model import get_preset
from robe.schema import DenseFeature, Schema, SparseFeature

TINY = Schema(
    name="tiny",
    dense=(DenseFeature("I1", "user"), DenseFeature("I2", "item")),
    sparse=(
        SparseFeature("C1", "user", 500),
        SparseFeature("C2", "item", 300),
        SparseFeature("C3", "context", 7),
    ),
    dim=8,
)
CATALOG_LINE = '{"item_id": "item-1", "features": {"I2": 3, "C2": "585078ba"}}\n'


def tiny_spec(kind: str = "robe") -> ModelSpec:
    if kind == "robe":
        embedding = EmbeddingConfig.robe_for_compression(TINY.table_sizes, 8, 10.0, chunk=4)
    else:
        embedding = EmbeddingConfig("full", 8, TINY.table_sizes)
    return ModelSpec(TINY, get_preset("small"), embedding)


def make_run(directory: Path, kind: str = "robe", *, seed: int = 0) -> Path:
    """RUN/checkpoint of a random-init model, RUN/metrics.json, and DATA/items.jsonl."""
    torch.manual_seed(seed)
    spec = tiny_spec(kind)
    save_checkpoint(directory / "run" / "checkpoint", build_model(spec), spec)
    data = directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "items.jsonl").write_text(CATALOG_LINE)
    metrics = {"auc": 0.5, "data": str(data.resolve())}
    (directory / "run" / "metrics.json").write_text(json.dumps(metrics))
    return directory / "run"


def train_tiny(root: Path, rows: int = 2000, seed: int = 1) -> Path:
    """Synthetic TINY data and a ROBE model trained on it by `robe train`: ROOT/run."""
    (root / "schema.json").write_text(json.dumps(TINY.to_dict()))
    data, run = root / "data", root / "run"
    synth = ["data", "synth", "--schema", str(root / "schema.json"), "--rows", str(rows)]
    assert main([*synth, "--seed", str(seed), "--out", str(data)]) == 0
    train = ["train", "--data", str(data), "--embedding", "robe", "--compression", "10"]
    assert main([*train, "--chunk", "4", "--no-progress", "--out", str(run)]) == 0
    return run


@pytest.fixture(scope="session")
def trained_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ROBE model trained by `robe train`, exported to all three formats with --verify."""
    root = tmp_path_factory.mktemp("trained")
    run, artifact = train_tiny(root), root / "artifact"
    export = ["export", "--checkpoint", str(run), "--out", str(artifact), "--verify"]
    assert main([*export, "--formats", "onnx,torchscript,aoti"]) == 0
    return artifact

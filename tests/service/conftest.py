"""A real small model for the service tests: trained weights are not needed, real ones are.

`small_run` is a training run folder (checkpoint + items.jsonl) of a tiny DLRM with a
ROBE embedding on a 3-dense / 4-sparse schema; `small_artifact` exports it with
model_export when that is available.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from robe.checkpoint import ModelSpec, build_model, save_checkpoint
from robe.embeddings import EmbeddingConfig
from robe.model import get_preset
from robe.schema import DenseFeature, Schema, SparseFeature

SCHEMA = Schema(
    name="tiny",
    dense=(DenseFeature("I1", "user"), DenseFeature("I2", "item"), DenseFeature("I3", "context")),
    sparse=(
        SparseFeature("C1", "user", 1000),
        SparseFeature("C2", "item", 200),
        SparseFeature("C3", "context", 10),
        SparseFeature("C4", "item", 50),
    ),
    dim=8,
)
NUM_ITEMS = 300


def item_id(i: int) -> str:
    return f"item-{i:04d}"


def write_catalog(path: Path, n: int = NUM_ITEMS) -> None:
    with path.open("w") as fh:
        for i in range(n):
            features = {
                "C2": f"{(i * 7919) % 2**32:08x}",
                "C4": f"{i % 50:08x}",
                "I2": None if i % 10 == 0 else float(i % 13),
            }
            fh.write(json.dumps({"item_id": item_id(i), "features": features}) + "\n")


def make_run(out: Path, kind: str = "robe", seed: int = 0) -> Path:
    torch.manual_seed(seed)
    preset = get_preset("small")
    if kind == "robe":
        emb = EmbeddingConfig.robe_for_compression(SCHEMA.table_sizes, preset.dim, 8.0, chunk=4)
    else:
        emb = EmbeddingConfig("full", preset.dim, SCHEMA.table_sizes)
    spec = ModelSpec(schema=SCHEMA, preset=preset, embedding=emb)
    model = build_model(spec)
    with torch.no_grad():  # make scores spread out so that top-k orders are well defined
        for p in model.parameters():
            p.mul_(3.0)
    save_checkpoint(out / "checkpoint", model, spec)
    write_catalog(out / "items.jsonl")
    (out / "metrics.json").write_text(json.dumps({"auc": 0.5}) + "\n")
    return out


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("run-robe"), "robe")


@pytest.fixture(scope="session")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("run-full"), "full", seed=1)


def export(run: Path, out: Path, formats: tuple[str, ...]) -> Path:
    from model_export.artifact import ExportRequest, export_artifact

    export_artifact(
        ExportRequest(
            checkpoint=run, out=out, formats=formats, catalog=run / "items.jsonl", name=out.name
        )
    )
    return out


@pytest.fixture(scope="session")
def onnx_artifact(small_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(small_run, tmp_path_factory.mktemp("art") / "robe-onnx", ("onnx",))


@pytest.fixture(scope="session")
def torchscript_artifact(small_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(small_run, tmp_path_factory.mktemp("art") / "robe-ts", ("torchscript",))

"""Checkpoints: `RUN/checkpoint/{model.safetensors,config.json}`, never pickle.

`config.json` holds a `ModelSpec` (schema, preset, embedding config) and the format
version; the tensors are the model's state dict. Export and evaluation load through
here, so a checkpoint from an incompatible version is refused in one place.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from robe import __version__
from robe.embeddings import EmbeddingConfig, build_embeddings
from robe.errors import CheckpointError
from robe.model import DLRM, Preset
from robe.schema import Schema

FORMAT = "robe-checkpoint"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"


@dataclass(frozen=True)
class ModelSpec:
    """What it takes to rebuild a model: its schema, layer widths and embeddings."""

    schema: Schema
    preset: Preset
    embedding: EmbeddingConfig

    def to_dict(self) -> dict[str, Any]:
        embedding = asdict(self.embedding)
        embedding["table_sizes"] = list(self.embedding.table_sizes)
        return {
            "schema": self.schema.to_dict(),
            "preset": {
                "name": self.preset.name,
                "dim": self.preset.dim,
                "bottom": list(self.preset.bottom),
                "top": list(self.preset.top),
            },
            "embedding": embedding,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelSpec:
        p, e = raw["preset"], raw["embedding"]
        return cls(
            schema=Schema.from_dict(raw["schema"]),
            preset=Preset(p["name"], int(p["dim"]), tuple(p["bottom"]), tuple(p["top"])),
            embedding=EmbeddingConfig(
                kind=e["kind"],
                dim=int(e["dim"]),
                table_sizes=tuple(e["table_sizes"]),
                robe_size=int(e["robe_size"]),
                chunk=int(e["chunk"]),
                hash_seed=int(e["hash_seed"]),
            ),
        )


def build_model(spec: ModelSpec) -> DLRM:
    if spec.embedding.table_sizes != spec.schema.table_sizes:
        raise ValueError("embedding table sizes do not match the schema's sparse features")
    return DLRM(spec.schema.num_dense, build_embeddings(spec.embedding), spec.preset)


def save_checkpoint(directory: Path, model: DLRM, spec: ModelSpec) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(directory / WEIGHTS))
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "robe_version": __version__,
        **spec.to_dict(),
    }
    (directory / CONFIG).write_text(json.dumps(config, indent=2) + "\n")


def checkpoint_dir(path: Path) -> Path:
    """Accept a run directory (RUN) or its checkpoint directory (RUN/checkpoint)."""
    return path / "checkpoint" if (path / "checkpoint").is_dir() else path


def load_spec(path: Path) -> ModelSpec:
    directory = checkpoint_dir(path)
    config_path = directory / CONFIG
    if not config_path.is_file():
        raise CheckpointError(f"{path}: no checkpoint here (missing {CONFIG})")
    try:
        raw = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{config_path}: not valid JSON ({exc})") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CheckpointError(f"{config_path}: not a robe checkpoint")
    if raw.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{config_path}: checkpoint format version {raw.get('format_version')!r} is not "
            f"supported by robe {__version__} (expects {FORMAT_VERSION})"
        )
    try:
        return ModelSpec.from_dict(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{config_path}: malformed model description ({exc})") from exc


def load_checkpoint(path: Path) -> tuple[DLRM, ModelSpec]:
    """The model in eval mode and its spec; CheckpointError for anything damaged."""
    spec = load_spec(path)
    weights = checkpoint_dir(path) / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{path}: missing {WEIGHTS}")
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{weights}: damaged or truncated ({exc})") from exc
    model = build_model(spec)
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise CheckpointError(f"{weights}: tensors do not match the model ({first})") from exc
    model.eval()
    return model, spec

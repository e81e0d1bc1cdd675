"""Feature schemas: which dense and sparse features a model reads, and from which side.

A schema is data (JSON on disk, a frozen dataclass in memory). The built-in schemas
describe the two Criteo datasets; their features are anonymous, so the user / item /
context sides assigned here are a convention of this project that the synthetic
generator and the service both follow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Side = Literal["user", "item", "context"]
SIDES: tuple[Side, ...] = ("user", "item", "context")

# Per-feature cardinalities of the Criteo Kaggle (Display Advertising Challenge) data,
# as counted by the reference DLRM implementation.
KAGGLE_CARDINALITIES = (
    1460,
    583,
    10131227,
    2202608,
    305,
    24,
    12517,
    633,
    3,
    93145,
    5683,
    8351593,
    3194,
    27,
    14992,
    5461306,
    10,
    5652,
    2173,
    4,
    7046547,
    18,
    15,
    286181,
    105,
    142572,
)
# Criteo Terabyte cardinalities capped at 40M rows per table (the MLPerf DLRM setting).
TERABYTE_CARDINALITIES = (
    39884406,
    39043,
    17289,
    7420,
    20263,
    3,
    7120,
    1543,
    63,
    38532951,
    2953546,
    403346,
    10,
    2208,
    11938,
    155,
    4,
    976,
    14,
    39979771,
    25641295,
    39664984,
    585935,
    12972,
    108,
    36,
)

# Side conventions for the anonymous Criteo columns: the large id-like tables are split
# between users and items, small ones are context (time, placement, device ...).
_CRITEO_SPARSE_SIDES: tuple[Side, ...] = (
    "context",
    "context",
    "user",
    "item",
    "context",
    "context",
    "item",
    "context",
    "context",
    "user",
    "item",
    "user",
    "item",
    "context",
    "item",
    "user",
    "context",
    "item",
    "item",
    "context",
    "user",
    "context",
    "context",
    "item",
    "context",
    "item",
)
_CRITEO_DENSE_SIDES: tuple[Side, ...] = (
    "user",
    "user",
    "user",
    "user",
    "item",
    "item",
    "item",
    "item",
    "item",
    "context",
    "context",
    "user",
    "item",
)


@dataclass(frozen=True)
class DenseFeature:
    name: str
    side: Side


@dataclass(frozen=True)
class SparseFeature:
    name: str
    side: Side
    size: int  # table rows of the plain baseline, and the generator's cardinality


@dataclass(frozen=True)
class Schema:
    """The features of one dataset, in column order (label, dense..., sparse...)."""

    name: str
    dense: tuple[DenseFeature, ...]
    sparse: tuple[SparseFeature, ...]
    dim: int  # default embedding dimension for models on this schema

    def __post_init__(self) -> None:
        names = [f.name for f in self.dense] + [f.name for f in self.sparse]
        if len(set(names)) != len(names):
            raise ValueError(f"schema {self.name!r}: duplicate feature names")
        if not self.sparse:
            raise ValueError(f"schema {self.name!r}: needs at least one sparse feature")
        if self.dim <= 0:
            raise ValueError(f"schema {self.name!r}: dim must be positive, got {self.dim}")
        for f in self.sparse:
            if f.size <= 0:
                raise ValueError(f"schema {self.name!r}: feature {f.name!r} has size {f.size}")

    @property
    def num_dense(self) -> int:
        return len(self.dense)

    @property
    def num_sparse(self) -> int:
        return len(self.sparse)

    @property
    def num_columns(self) -> int:
        """Fields per TSV line: the label, then dense, then sparse."""
        return 1 + self.num_dense + self.num_sparse

    @property
    def table_sizes(self) -> tuple[int, ...]:
        return tuple(f.size for f in self.sparse)

    def side_of(self, name: str) -> Side:
        for dense in self.dense:
            if dense.name == name:
                return dense.side
        for sparse in self.sparse:
            if sparse.name == name:
                return sparse.side
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dim": self.dim,
            "dense": [{"name": f.name, "side": f.side} for f in self.dense],
            "sparse": [{"name": f.name, "side": f.side, "size": f.size} for f in self.sparse],
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Schema:
        try:
            dense = tuple(DenseFeature(str(d["name"]), _side(d["side"])) for d in raw["dense"])
            sparse = tuple(
                SparseFeature(str(s["name"]), _side(s["side"]), int(s["size"]))
                for s in raw["sparse"]
            )
            return cls(name=str(raw["name"]), dense=dense, sparse=sparse, dim=int(raw["dim"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed schema: missing or wrong field {exc}") from exc

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")


def _side(value: object) -> Side:
    if value not in SIDES:
        raise ValueError(f"feature side must be one of {SIDES}, got {value!r}")
    return value


def criteo_schema(name: str, cardinalities: tuple[int, ...], dim: int) -> Schema:
    dense = tuple(DenseFeature(f"I{i + 1}", s) for i, s in enumerate(_CRITEO_DENSE_SIDES))
    sparse = tuple(
        SparseFeature(f"C{i + 1}", side, size)
        for i, (side, size) in enumerate(zip(_CRITEO_SPARSE_SIDES, cardinalities, strict=True))
    )
    return Schema(name=name, dense=dense, sparse=sparse, dim=dim)


BUILTIN_SCHEMAS: dict[str, Schema] = {
    "criteo-kaggle": criteo_schema("criteo-kaggle", KAGGLE_CARDINALITIES, dim=16),
    "criteo-terabyte": criteo_schema("criteo-terabyte", TERABYTE_CARDINALITIES, dim=128),
}


def load_schema(name_or_path: str | Path) -> Schema:
    """A built-in schema by name, or a schema JSON file."""
    key = str(name_or_path)
    if key in BUILTIN_SCHEMAS:
        return BUILTIN_SCHEMAS[key]
    path = Path(key)
    if path.suffix != ".json" and not path.exists():
        raise ValueError(
            f"unknown schema {key!r}: use one of {sorted(BUILTIN_SCHEMAS)} or a .json file"
        )
    if not path.is_file():
        raise ValueError(f"schema file {key!r} does not exist")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"schema file {key!r} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"schema file {key!r} must hold a JSON object")
    return Schema.from_dict(raw)

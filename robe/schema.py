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


Transform = Literal["log1p", "standardize", "none"]
TRANSFORMS: tuple[Transform, ...] = ("log1p", "standardize", "none")
DEFAULT_BUCKETS = 10


@dataclass(frozen=True)
class DenseFeature:
    """A number. `transform` turns it into a model input; `standardize` needs `mean`/`std`
    from the training split (robe.data.fit fills them in before training). The JSON
    transform `bucketize` makes a bucketized SparseFeature instead (see from_dict)."""

    name: str
    side: Side
    column: str = ""  # the source column; "" means the feature's name
    transform: Transform = "log1p"
    mean: float | None = None
    std: float | None = None

    def __post_init__(self) -> None:
        if self.transform not in TRANSFORMS:
            raise ValueError(
                f"dense feature {self.name!r}: transform must be one of "
                f"{', '.join(TRANSFORMS)} or bucketize, got {self.transform!r}"
            )
        if self.std is not None and not self.std > 0:
            raise ValueError(f"dense feature {self.name!r}: std must be positive")

    @property
    def source_column(self) -> str:
        return self.column or self.name

    @property
    def fitted(self) -> bool:
        return self.transform != "standardize" or (self.mean is not None and self.std is not None)


@dataclass(frozen=True)
class SparseFeature:
    """A categorical value, or a bag of them (`separator` set), or a bucketized number."""

    name: str
    side: Side
    size: int  # hashing-trick rows of the plain baseline, and the generator's cardinality
    column: str = ""  # the source column; "" means the feature's name
    # 8-hex-digit text is a hex number (Criteo tokens). from_dict defaults it to false for
    # csv/tsv/parquet sources; the dataclass default follows the Criteo path.
    hex: bool = True
    separator: str | None = None  # multi-valued: "Action|Comedy" with separator "|"
    max_values: int = 1  # values per bag at most (more is a bad row / a 422)
    bucketize: bool = False  # a number cut at `boundaries` (quantiles of the training split)
    boundaries: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        where = f"sparse feature {self.name!r}"
        if self.separator is not None and (len(self.separator) != 1 or self.bucketize):
            raise ValueError(f"{where}: separator must be one character (not with bucketize)")
        if self.max_values < 1 or (self.max_values > 1 and self.separator is None):
            raise ValueError(f"{where}: max_values > 1 needs a separator")
        if self.boundaries is not None and list(self.boundaries) != sorted(self.boundaries):
            raise ValueError(f"{where}: boundaries must be ascending")

    @property
    def source_column(self) -> str:
        return self.column or self.name

    @property
    def fitted(self) -> bool:
        return not self.bucketize or self.boundaries is not None


Format = Literal["criteo", "csv", "tsv", "parquet"]
FORMATS: tuple[Format, ...] = ("criteo", "csv", "tsv", "parquet")
LabelOp = Literal[">=", ">", "<=", "<", "==", "!="]
LABEL_OPS: tuple[LabelOp, ...] = (">=", ">", "<=", "<", "==", "!=")


@dataclass(frozen=True)
class LabelRule:
    """The label: `column` read as 0/1, or 1 where `column op value` holds."""

    column: str = "label"
    op: LabelOp | None = None
    value: float | str | None = None

    def __post_init__(self) -> None:
        if (self.op is None) != (self.value is None):
            raise ValueError("label rule: give both op and value, or neither")
        if self.op is not None and self.op not in LABEL_OPS:
            raise ValueError(f"label rule: op must be one of {LABEL_OPS}, got {self.op!r}")

    def describe(self) -> str:
        if self.op is None:
            return f"{self.column} (0 or 1)"
        return f"1 when {self.column} {self.op} {self.value}, else 0"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"column": self.column}
        if self.op is not None:
            out.update(op=self.op, value=self.value)
        return out


@dataclass(frozen=True)
class Source:
    """Where rows come from. `criteo`: headerless TSV, label, dense..., sparse... in schema
    order. csv/tsv/parquet: named columns (csv/tsv with a header row, or `columns`)."""

    format: Format = "criteo"
    delimiter: str = ""  # csv/tsv: "" means "," for csv and tab for tsv
    header: bool = True  # csv/tsv: the first line names the columns
    columns: tuple[str, ...] = ()  # csv/tsv without a header: the column names in order
    label: LabelRule = LabelRule()
    time: str | None = None  # the column that orders rows; the file must be sorted by it

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"source format must be one of {FORMATS}, got {self.format!r}")
        if self.format in ("csv", "tsv") and not self.header and not self.columns:
            raise ValueError('source: a csv/tsv file without a header needs "columns"')
        if len(self.delimiter) > 1:
            raise ValueError(f"source delimiter must be one character, got {self.delimiter!r}")
        if not self.delimiter and self.format in ("csv", "tsv"):
            # Normalised here so that a schema equals its own to_dict/from_dict round trip.
            object.__setattr__(self, "delimiter", "," if self.format == "csv" else "\t")

    @property
    def field_delimiter(self) -> str:
        return self.delimiter or ("," if self.format == "csv" else "\t")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": self.format, "label": self.label.to_dict()}
        if self.format in ("csv", "tsv"):
            out.update(delimiter=self.field_delimiter, header=self.header)
            if self.columns:
                out["columns"] = list(self.columns)
        if self.time is not None:
            out["time"] = self.time
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Source:
        label = raw.get("label", {})
        if isinstance(label, str):
            label = {"column": label}
        return cls(
            format=raw.get("format", "criteo"),
            delimiter=str(raw.get("delimiter", "")),
            header=bool(raw.get("header", True)),
            columns=tuple(str(c) for c in raw.get("columns", ())),
            label=LabelRule(
                column=str(label.get("column", "label")),
                op=label.get("op"),
                value=label.get("value"),
            ),
            time=raw.get("time"),
        )


CRITEO_SOURCE = Source()


@dataclass(frozen=True)
class Schema:
    """The features of one dataset and where they come from (`source`)."""

    name: str
    dense: tuple[DenseFeature, ...]
    sparse: tuple[SparseFeature, ...]
    dim: int  # embedding dimension of models on this schema
    source: Source = CRITEO_SOURCE

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
        kinds = [f.bucketize for f in self.sparse]
        if kinds != sorted(kinds):
            raise ValueError(
                f"schema {self.name!r}: bucketized features come after the other sparse ones"
            )
        if self.source.format == "criteo" and any(f.separator or f.bucketize for f in self.sparse):
            raise ValueError(
                f"schema {self.name!r}: multi-valued and bucketized features need a "
                "csv, tsv or parquet source"
            )

    @property
    def num_dense(self) -> int:
        return len(self.dense)

    @property
    def num_sparse(self) -> int:
        return len(self.sparse)

    @property
    def num_columns(self) -> int:
        """Fields per Criteo TSV line: the label, then dense, then sparse."""
        return 1 + self.num_dense + self.num_sparse

    @property
    def table_sizes(self) -> tuple[int, ...]:
        return tuple(f.size for f in self.sparse)

    @property
    def key_widths(self) -> tuple[int, ...]:
        """Key columns per sparse feature in a row (`max_values`; 1 for single values)."""
        return tuple(f.max_values for f in self.sparse)

    @property
    def fitted(self) -> bool:
        """Every transform has its training-split statistics."""
        return all(f.fitted for f in self.dense) and all(f.fitted for f in self.sparse)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dim": self.dim,
            "source": self.source.to_dict(),
            "dense": [_dense_dict(f) for f in self.dense]
            + [_bucket_dict(f) for f in self.sparse if f.bucketize],
            "sparse": [_sparse_dict(f) for f in self.sparse if not f.bucketize],
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Schema:
        try:
            # A schema without a source is a pre-source one: Criteo TSV with hex tokens.
            legacy = "source" not in raw
            source = CRITEO_SOURCE if legacy else Source.from_dict(raw["source"])
            # A bucketized number is declared as a dense transform and embedded as a
            # sparse feature: it joins the sparse features after the declared ones.
            numbers = [d for d in raw["dense"] if d.get("transform") != "bucketize"]
            buckets = [d for d in raw["dense"] if d.get("transform") == "bucketize"]
            dense = tuple(
                DenseFeature(
                    str(d["name"]),
                    _side(d["side"]),
                    column=str(d.get("column", "")),
                    transform=d.get("transform", "log1p"),
                    mean=_optional_float(d.get("mean")),
                    std=_optional_float(d.get("std")),
                )
                for d in numbers
            )
            for s in raw["sparse"]:
                if "bucketize" in s or "boundaries" in s:
                    raise ValueError(
                        f"sparse feature {s.get('name')!r}: bucketize is a dense transform "
                        '(in "dense": {"transform": "bucketize", "size": BUCKETS})'
                    )
            sparse = tuple(
                SparseFeature(
                    str(s["name"]),
                    _side(s["side"]),
                    int(s["size"]),
                    column=str(s.get("column", "")),
                    hex=bool(s.get("hex", legacy or source.format == "criteo")),
                    separator=s.get("separator"),
                    max_values=int(s.get("max_values", 1)),
                )
                for s in raw["sparse"]
            ) + tuple(
                SparseFeature(
                    str(d["name"]),
                    _side(d["side"]),
                    int(d.get("size", DEFAULT_BUCKETS)),
                    column=str(d.get("column", "")),
                    hex=False,
                    bucketize=True,
                    boundaries=None
                    if d.get("boundaries") is None
                    else tuple(float(b) for b in d["boundaries"]),
                )
                for d in buckets
            )
            return cls(
                name=str(raw["name"]),
                dense=dense,
                sparse=sparse,
                dim=int(raw["dim"]),
                source=source,
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed schema: missing or wrong field {exc}") from exc

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")


def _dense_dict(f: DenseFeature) -> dict[str, Any]:
    out: dict[str, Any] = {"name": f.name, "side": f.side}
    if f.column:
        out["column"] = f.column
    out["transform"] = f.transform
    if f.mean is not None:
        out.update(mean=f.mean, std=f.std)
    return out


def _sparse_dict(f: SparseFeature) -> dict[str, Any]:
    out: dict[str, Any] = {"name": f.name, "side": f.side, "size": f.size}
    if f.column:
        out["column"] = f.column
    out["hex"] = f.hex
    if f.separator is not None:
        out.update(separator=f.separator, max_values=f.max_values)
    return out


def _bucket_dict(f: SparseFeature) -> dict[str, Any]:
    out: dict[str, Any] = {"name": f.name, "side": f.side}
    if f.column:
        out["column"] = f.column
    out.update(transform="bucketize", size=f.size)
    if f.boundaries is not None:
        out["boundaries"] = list(f.boundaries)
    return out


def _optional_float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _side(value: object) -> Side:
    if value not in SIDES:
        raise ValueError(f"feature side must be one of {SIDES}, got {value!r}")
    return value


def criteo_schema(name: str, cardinalities: tuple[int, ...], dim: int) -> Schema:
    dense = tuple(DenseFeature(f"I{i + 1}", s) for i, s in enumerate(_CRITEO_DENSE_SIDES))
    sparse = tuple(
        SparseFeature(f"C{i + 1}", side, size, hex=True)
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

"""Turning JSON features into model rows: dense [n, F] float32 and keys [n, S] int64.

Per-feature Python runs once per request (a user has tens of features); per-row work
is numpy: a request's rows are the catalog's pre-hashed item rows with the user's
columns written over them (`FeatureLayout.recommend_rows`). Values go through
robe.data.cells and robe.data.transform, the readers' own steps, so a JSON 196, a JSON
"196" and the file text 196 give the same model inputs.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from robe.data import cells
from robe.data.rows import bags
from robe.data.transform import key_starts, to_rows
from robe.keys import MISSING_KEY, PAD_KEY
from robe.schema import Schema, Side
from service.errors import InvalidInput

Dense = npt.NDArray[np.float32]
Keys = npt.NDArray[np.int64]


def model_inputs(
    dense: Dense, keys: Keys, widths: tuple[int, ...] | None = None
) -> tuple[Dense, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(dense [B,F], values [N], offsets [B*T+1]): bags batch-major, padding dropped."""
    values, offsets = bags(keys, widths)
    return dense, values, offsets


@dataclass(frozen=True)
class FeatureLayout:
    """Where each feature of a schema goes in a row, and which side it belongs to."""

    schema: Schema
    dense_index: dict[str, int]
    sparse_index: dict[str, int]
    item_dense: npt.NDArray[np.bool_]  # [F] True for item-side dense columns
    item_sparse: npt.NDArray[np.bool_]  # [S] True for item-side key columns
    starts: tuple[int, ...]  # first key column of each sparse feature
    bucket_index: dict[int, int]  # bucketized sparse feature -> its raw-number column
    # A request field feeds the feature of that name and every feature reading the
    # column of that name (as in the file: "age" feeds `age` and an `age_band` of it).
    targets: dict[str, list[tuple[str, int]]]  # field -> [("dense" | "sparse", index)]

    @classmethod
    def of(cls, schema: Schema) -> FeatureLayout:
        buckets = [t for t, f in enumerate(schema.sparse) if f.bucketize]
        return cls(
            schema=schema,
            dense_index={f.name: i for i, f in enumerate(schema.dense)},
            sparse_index={f.name: i for i, f in enumerate(schema.sparse)},
            item_dense=np.array([f.side == "item" for f in schema.dense], dtype=bool),
            item_sparse=np.repeat(
                np.array([f.side == "item" for f in schema.sparse], dtype=bool),
                schema.key_widths,
            ),
            starts=tuple(key_starts(schema)),
            bucket_index={t: schema.num_dense + j for j, t in enumerate(buckets)},
            targets=_targets(schema),
        )

    @property
    def num_dense(self) -> int:
        return self.schema.num_dense

    @property
    def num_sparse(self) -> int:
        return self.schema.num_sparse

    @property
    def num_key_columns(self) -> int:
        return int(self.item_sparse.shape[0])

    def features_by_side(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {"user": [], "item": [], "context": []}
        for d in self.schema.dense:
            out[d.side].append(d.name)
        for s in self.schema.sparse:
            out[s.side].append(s.name)
        return out

    def encode(
        self, features: Mapping[str, object], sides: Collection[Side], where: str
    ) -> tuple[Dense, Keys]:
        """One row from `features` (names of the given sides only); InvalidInput otherwise."""
        dense, keys = self._convert([self._raw(features, sides, where)])
        return dense[0], keys[0]

    def _raw(
        self, features: Mapping[str, object], sides: Collection[Side], where: str
    ) -> tuple[npt.NDArray[np.float64], Keys]:
        """Raw numbers [F + B] and keys [S] of one row, before the schema's transforms."""
        schema = self.schema
        raw = np.full(self.num_dense + len(self.bucket_index), np.nan, dtype=np.float64)
        keys = np.full(self.num_key_columns, PAD_KEY, dtype=np.int64)
        keys[list(self.starts)] = MISSING_KEY
        for name, value in features.items():
            targets = self.targets.get(name)
            if targets is None:
                raise InvalidInput(
                    f"{where}.{name}: unknown feature {name!r} (schema {schema.name!r} "
                    f"has dense {_span(list(self.dense_index))} and sparse "
                    f"{_span(list(self.sparse_index))})"
                )
            for kind, col in targets:
                if kind == "dense":
                    self._check_side(name, schema.dense[col].side, sides, where)
                    raw[col] = _dense_value(value, f"{where}.{name}")
                else:
                    self._sparse(name, value, col, sides, where, raw, keys)
        return raw, keys

    def _sparse(
        self,
        name: str,
        value: object,
        t: int,
        sides: Collection[Side],
        where: str,
        raw: npt.NDArray[np.float64],
        keys: Keys,
    ) -> None:
        feature = self.schema.sparse[t]
        self._check_side(name, feature.side, sides, where)
        if feature.bucketize:
            raw[self.bucket_index[t]] = _bucket_value(value, f"{where}.{name}")
            return
        if isinstance(value, float):
            # JSON does not tell 3 from 3.0 (JSON Schema calls both integers): take whole floats
            if not value.is_integer():
                raise InvalidInput(
                    f"{where}.{name}: a sparse feature must be a string or an integer, "
                    f"got {value!r}"
                )
            value = int(value)
        try:
            values = cells.sparse_keys(value, feature)
        except ValueError as exc:
            raise InvalidInput(f"{where}.{name}: {exc}") from exc
        keys[self.starts[t] : self.starts[t] + len(values)] = values

    def _convert(self, raw_rows: list[tuple[npt.NDArray[np.float64], Keys]]) -> tuple[Dense, Keys]:
        raw = np.stack([r for r, _ in raw_rows])
        keys = np.stack([k for _, k in raw_rows])
        labels = np.zeros(len(raw_rows), dtype=np.float32)
        rows = to_rows(labels, raw, keys, self.schema)
        return rows.dense, rows.keys

    @staticmethod
    def _check_side(name: str, side: Side, sides: Collection[Side], where: str) -> None:
        if side not in sides:
            raise InvalidInput(
                f"{where}.{name}: {name!r} is an {side}-side feature and cannot be given in "
                f"{where!r} (allowed sides: {', '.join(sides)})"
            )

    def rows(self, features: list[Mapping[str, object]], where: str) -> tuple[Dense, Keys]:
        """Rows with features of every side (POST /score)."""
        sides: tuple[Side, ...] = ("user", "item", "context")
        return self._convert(
            [self._raw(row, sides, f"{where}[{i}]") for i, row in enumerate(features)]
        )

    def recommend_rows(
        self, user_dense: Dense, user_keys: Keys, item_dense: Dense, item_keys: Keys
    ) -> tuple[Dense, Keys]:
        """[n] candidate rows: item columns from the catalog rows, the rest from the user."""
        dense = np.where(self.item_dense, item_dense, user_dense).astype(np.float32, copy=False)
        keys = np.where(self.item_sparse, item_keys, user_keys)
        return dense, keys


def _targets(schema: Schema) -> dict[str, list[tuple[str, int]]]:
    """Request field -> the features it feeds: the one of that name first, then every
    feature that reads the column of that name."""
    features = [("dense", i, f.name, f.source_column) for i, f in enumerate(schema.dense)]
    features += [("sparse", t, f.name, f.source_column) for t, f in enumerate(schema.sparse)]
    out = {name: [(kind, index)] for kind, index, name, _ in features}
    for kind, index, name, column in features:
        if column != name:
            out.setdefault(column, []).append((kind, index))
    return out


def _span(names: list[str]) -> str:
    if len(names) <= 4:
        return ", ".join(names) or "none"
    return f"{names[0]}..{names[-1]}"


def _bucket_value(value: object, field: str) -> float:
    """A bucketized feature's number: as a dense value, or text read as the file's cell
    is (the v2 protocol sends every sparse feature as BYTES, so "1999" there)."""
    if not isinstance(value, str):
        return _dense_value(value, field)
    try:
        return cells.number(value)
    except ValueError as exc:
        raise InvalidInput(f"{field}: a bucketized feature takes a number: {exc}") from None


def _dense_value(value: object, field: str) -> float:
    if value is None:
        return math.nan  # missing; the transform makes it what training made it
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{field}: a dense feature must be a number or null, got {value!r}")
    try:
        number = float(value)
    except OverflowError:  # JSON integers have no bound
        raise InvalidInput(
            f"{field}: dense value must be finite, got an integer past float64's range"
        ) from None
    if not math.isfinite(number):
        raise InvalidInput(f"{field}: dense value must be finite, got {value!r}")
    return number

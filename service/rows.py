"""Turning JSON features into model rows: dense [n, F] float32 and keys [n, T] int64.

Per-feature Python runs once per request (a user has tens of features); per-row work
is numpy: a request's rows are the catalog's pre-hashed item rows with the user's
columns written over them (`FeatureLayout.recommend_rows`). Keys follow robe.keys,
dense values robe.data.rows.dense_transform, so serving matches training exactly.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from robe.data.rows import bag_offsets, dense_transform
from robe.keys import MISSING_KEY, value_key
from robe.schema import Schema, Side
from service.errors import InvalidInput

Dense = npt.NDArray[np.float32]
Keys = npt.NDArray[np.int64]


def model_inputs(
    dense: Dense, keys: Keys
) -> tuple[Dense, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(dense [B,F], values [B*T], offsets [B*T+1]): one value per bag, batch-major."""
    n, t = keys.shape
    return dense, np.ascontiguousarray(keys).reshape(-1), bag_offsets(n, t)


@dataclass(frozen=True)
class FeatureLayout:
    """Where each feature of a schema goes in a row, and which side it belongs to."""

    schema: Schema
    dense_index: dict[str, int]
    sparse_index: dict[str, int]
    item_dense: npt.NDArray[np.bool_]  # [F] True for item-side dense columns
    item_sparse: npt.NDArray[np.bool_]  # [T]

    @classmethod
    def of(cls, schema: Schema) -> FeatureLayout:
        return cls(
            schema=schema,
            dense_index={f.name: i for i, f in enumerate(schema.dense)},
            sparse_index={f.name: i for i, f in enumerate(schema.sparse)},
            item_dense=np.array([f.side == "item" for f in schema.dense], dtype=bool),
            item_sparse=np.array([f.side == "item" for f in schema.sparse], dtype=bool),
        )

    @property
    def num_dense(self) -> int:
        return self.schema.num_dense

    @property
    def num_sparse(self) -> int:
        return self.schema.num_sparse

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
        raw_dense = np.full(self.num_dense, np.nan, dtype=np.float64)
        keys = np.full(self.num_sparse, MISSING_KEY, dtype=np.int64)
        for name, value in features.items():
            if name in self.dense_index:
                col = self.dense_index[name]
                self._check_side(name, self.schema.dense[col].side, sides, where)
                raw_dense[col] = _dense_value(value, f"{where}.{name}")
            elif name in self.sparse_index:
                col = self.sparse_index[name]
                self._check_side(name, self.schema.sparse[col].side, sides, where)
                keys[col] = _sparse_key(value, f"{where}.{name}")
            else:
                raise InvalidInput(
                    f"{where}.{name}: unknown feature {name!r} (schema {self.schema.name!r} "
                    f"has dense {_span(list(self.dense_index))} and sparse "
                    f"{_span(list(self.sparse_index))})"
                )
        return dense_transform(raw_dense), keys

    @staticmethod
    def _check_side(name: str, side: Side, sides: Collection[Side], where: str) -> None:
        if side not in sides:
            raise InvalidInput(
                f"{where}.{name}: {name!r} is an {side}-side feature and cannot be given in "
                f"{where!r} (allowed sides: {', '.join(sides)})"
            )

    def rows(self, features: list[Mapping[str, object]], where: str) -> tuple[Dense, Keys]:
        """Rows with features of every side (POST /score)."""
        dense = np.empty((len(features), self.num_dense), dtype=np.float32)
        keys = np.empty((len(features), self.num_sparse), dtype=np.int64)
        for i, row in enumerate(features):
            dense[i], keys[i] = self.encode(row, ("user", "item", "context"), f"{where}[{i}]")
        return dense, keys

    def recommend_rows(
        self, user_dense: Dense, user_keys: Keys, item_dense: Dense, item_keys: Keys
    ) -> tuple[Dense, Keys]:
        """[n] candidate rows: item columns from the catalog rows, the rest from the user."""
        dense = np.where(self.item_dense, item_dense, user_dense).astype(np.float32, copy=False)
        keys = np.where(self.item_sparse, item_keys, user_keys)
        return dense, keys


def _span(names: list[str]) -> str:
    if len(names) <= 4:
        return ", ".join(names) or "none"
    return f"{names[0]}..{names[-1]}"


def _dense_value(value: object, field: str) -> float:
    if value is None:
        return math.nan  # missing; dense_transform makes it 0 as in training
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{field}: a dense feature must be a number or null, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInput(f"{field}: dense value must be finite, got {value!r}")
    return number


def _sparse_key(value: object, field: str) -> int:
    if isinstance(value, float):
        # JSON does not tell 3 from 3.0 (JSON Schema calls both integers): take whole floats
        if not value.is_integer():
            raise InvalidInput(
                f"{field}: a sparse feature must be a string or an integer, got {value!r}"
            )
        value = int(value)
    try:
        return value_key(value)
    except ValueError as exc:
        raise InvalidInput(f"{field}: {exc}") from exc

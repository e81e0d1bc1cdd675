"""Request payloads drawn from a model's schema and item catalog, shared by every driver.

A user is a Zipf-distributed rank: a few heavy users come back often, most are seen
once. A user's own features are a pure function of its rank (the same user always
sends the same profile); context features (time, placement, device ...) are drawn per
request; `/recommend` candidate lists vary in size, and a fraction of the traffic is
`/score` calls over a few rows. Generation is numpy and seeded, so a sweep replays the
same traffic for every model it compares.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from robe.catalog import CatalogError, read_items
from robe.schema import Schema, Side

Kind = Literal["dense", "sparse", "any"]  # "any": type unknown, sent as an integer
JSONValue = int | float | str | None

_MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class Feature:
    name: str
    side: Side
    kind: Kind


@dataclass(frozen=True)
class Item:
    item_id: str
    features: dict[str, JSONValue] = field(default_factory=dict)  # empty when unknown


@dataclass(frozen=True)
class TrafficConfig:
    users: int = 100_000
    user_zipf: float = 1.1  # exponent of the user-activity Zipf law
    candidate_sizes: tuple[int, ...] = (10, 50, 100, 200, 500)
    candidate_weights: tuple[float, ...] = (0.3, 0.3, 0.2, 0.15, 0.05)
    ks: tuple[int, ...] = (5, 10, 20)
    score_fraction: float = 0.1  # share of calls that are POST /score
    max_score_rows: int = 32
    missing_rate: float = 0.05  # share of user/context values sent as null
    model: str | None = None  # the "model" field of every body; None: the default model

    def __post_init__(self) -> None:
        if self.users < 1:
            raise ValueError(f"users must be positive, got {self.users}")
        if self.user_zipf <= 0:
            raise ValueError(f"user_zipf must be positive, got {self.user_zipf}")
        if not self.candidate_sizes or min(self.candidate_sizes) < 1:
            raise ValueError(f"candidate_sizes must be positive, got {self.candidate_sizes}")
        if len(self.candidate_weights) != len(self.candidate_sizes):
            raise ValueError(
                f"candidate_weights {self.candidate_weights} must match "
                f"candidate_sizes {self.candidate_sizes}"
            )
        if min(self.candidate_weights) < 0 or sum(self.candidate_weights) <= 0:
            raise ValueError(
                f"candidate_weights must be non-negative, got {self.candidate_weights}"
            )
        if not self.ks or min(self.ks) < 1:
            raise ValueError(f"ks must be positive, got {self.ks}")
        if not 0.0 <= self.score_fraction <= 1.0:
            raise ValueError(f"score_fraction must be in [0, 1], got {self.score_fraction}")
        if self.max_score_rows < 1:
            raise ValueError(f"max_score_rows must be positive, got {self.max_score_rows}")
        if not 0.0 <= self.missing_rate < 1.0:
            raise ValueError(f"missing_rate must be in [0, 1), got {self.missing_rate}")


@dataclass(frozen=True)
class Call:
    endpoint: Literal["/recommend", "/score"]
    body: dict[str, Any]

    def encode(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":")).encode()


def features_of(schema: Schema) -> tuple[Feature, ...]:
    dense = tuple(Feature(f.name, f.side, "dense") for f in schema.dense)
    return dense + tuple(Feature(f.name, f.side, "sparse") for f in schema.sparse)


def load_catalog(path: Path) -> tuple[Item, ...]:
    """Items of an `items.jsonl` (read by robe.catalog)."""
    try:
        items = tuple(Item(item.item_id, item.features) for _, item in read_items(path))
    except CatalogError as exc:
        raise ValueError(str(exc)) from exc
    if not items:
        raise ValueError(f"catalog {path} holds no items")
    return items


def _mix(a: int, b: int) -> int:
    """splitmix64 of (a, b): a stable per-(user, feature) value, the same on every run."""
    z = (a * 0x9E3779B97F4A7C15 + b * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def _value(kind: Kind, h: int) -> JSONValue:
    if kind == "dense":
        return h % 100  # a small count, like Criteo's integer columns
    if kind == "sparse":
        return f"{h & 0xFFFFFFFF:08x}"  # an 8-hex-digit token, like Criteo's categoricals
    return h % (1 << 31)


class Traffic:
    """An endless, seeded stream of `/recommend` and `/score` calls."""

    def __init__(
        self,
        features: tuple[Feature, ...],
        items: tuple[Item, ...],
        config: TrafficConfig,
        seed: int = 0,
    ) -> None:
        if not items:
            raise ValueError("traffic needs at least one catalog item")
        self.config = config
        self.items = items
        self._rng = np.random.default_rng(seed)
        self._user_features = [(j, f) for j, f in enumerate(features) if f.side == "user"]
        self._context_features = [(j, f) for j, f in enumerate(features) if f.side == "context"]
        ranks = np.arange(1, config.users + 1, dtype=np.float64)
        weights = ranks**-config.user_zipf
        self._user_cdf = np.cumsum(weights / weights.sum())
        w = np.asarray(config.candidate_weights, dtype=np.float64)
        self._size_p = w / w.sum()

    def user_rank(self) -> int:
        u = float(self._rng.random())
        rank = int(np.searchsorted(self._user_cdf, u, side="right"))
        return min(rank, self.config.users - 1)  # u within rounding of 1.0

    def user(self, rank: int) -> dict[str, JSONValue]:
        """The profile of user `rank` (fixed) plus this request's context (drawn)."""
        out: dict[str, JSONValue] = {}
        missing = self.config.missing_rate
        for j, f in self._user_features:
            h = _mix(rank, j)
            # the top bits decide missingness, so a user's missing fields stay missing
            out[f.name] = None if (h >> 40) % 10_000 < missing * 10_000 else _value(f.kind, h)
        for j, f in self._context_features:
            if self._rng.random() < missing:
                out[f.name] = None
                continue
            # a handful of frequent contexts: Zipf over a small range
            v = int(self._rng.zipf(1.5)) % 1000
            out[f.name] = _value(f.kind, _mix(v, 1000 + j))
        return out

    def next_call(self) -> Call:
        c = self.config
        profile = self.user(self.user_rank())
        if self._rng.random() < c.score_fraction:
            n = int(self._rng.integers(1, c.max_score_rows + 1))
            picks = self._rng.integers(0, len(self.items), size=n)
            rows = [{**profile, **self.items[int(i)].features} for i in picks]
            return Call("/score", self._with_model({"rows": rows}))
        size = int(self._rng.choice(c.candidate_sizes, p=self._size_p))
        size = min(size, len(self.items))
        picks = self._rng.choice(len(self.items), size=size, replace=False)
        k = min(int(self._rng.choice(c.ks)), size)
        body = {"user": profile, "candidates": [self.items[int(i)].item_id for i in picks], "k": k}
        return Call("/recommend", self._with_model(body))

    def calls(self, n: int) -> list[Call]:
        return [self.next_call() for _ in range(n)]

    def _with_model(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.config.model is not None:
            body["model"] = self.config.model
        return body

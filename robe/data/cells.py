"""One value of one feature to model numbers: the shared step of file readers and the service.

A cell is what a CSV/TSV field, a Parquet value or a JSON value holds: a string, an
integer, a float, a list (a multi-valued feature as a Parquet list or JSON array) or
None. CSV text "196", Parquet 196 and JSON 196 or "196" all reach `robe.keys` through
`sparse_keys`, so a feature's keys do not depend on where its value came from.
Errors are ValueError with a short reason; callers add the file line or JSON field.
"""

from __future__ import annotations

import math

from robe.keys import MISSING_KEY, value_key
from robe.schema import LabelRule, SparseFeature


def sparse_keys(value: object, feature: SparseFeature) -> list[int]:
    """The keys of one cell: one for a single value, up to `max_values` for a bag."""
    if value is None or value == "":
        return [MISSING_KEY]
    if feature.separator is not None and isinstance(value, str):
        value = [part for part in value.split(feature.separator) if part]
    if isinstance(value, list):
        if feature.separator is None:
            raise ValueError(f"{feature.name!r} takes one value, got a list")
        keys = [value_key(v, hex_tokens=feature.hex) for v in value if v is not None and v != ""]
        if len(keys) > feature.max_values:
            raise ValueError(
                f"{len(keys)} values for {feature.name!r}, the schema's max_values is "
                f"{feature.max_values}"
            )
        return keys or [MISSING_KEY]
    return [value_key(value, hex_tokens=feature.hex)]


def number(value: object) -> float:
    """A dense (or bucketized) cell as a float; NaN for missing."""
    if value is None or value == "":
        return math.nan
    if isinstance(value, bool):
        raise ValueError(f"a numeric value must be a number, got {value!r}")
    if isinstance(value, int | float):
        x = float(value)
    elif isinstance(value, str):
        try:
            x = float(value)
        except ValueError:
            raise ValueError(f"not a number: {value!r}") from None
    else:
        raise ValueError(f"a numeric value must be a number, got {value!r}")
    if math.isinf(x):
        raise ValueError(f"not a finite number: {value!r}")
    return x


def label(value: object, rule: LabelRule) -> float:
    """The 0/1 label of a row from its label cell."""
    if rule.op is None:
        if value in ("0", "1", 0, 1) and not isinstance(value, bool):
            return float(value)
        raise ValueError(
            f"label {rule.column!r} must be 0 or 1, got {value!r}: give the schema's "
            'source.label a rule such as {"op": ">=", "value": 4}'
        )
    if value is None or value == "":
        raise ValueError(f"label {rule.column!r} is missing")
    if isinstance(rule.value, str):
        left: float | str = str(value)
        right: float | str = rule.value
    else:
        left, right = number(value), float(rule.value)  # type: ignore[arg-type]
        if math.isnan(left):
            raise ValueError(f"label {rule.column!r} is missing")
    return 1.0 if _compare(left, rule.op, right) else 0.0


def _compare(left: float | str, op: str, right: float | str) -> bool:
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    if isinstance(left, str) or isinstance(right, str):
        raise ValueError(f"label rule {op} needs a numeric value")
    return {">=": left >= right, ">": left > right, "<=": left <= right, "<": left < right}[op]


def time_value(value: object) -> float | str:
    """A time cell, for checking row order: a number (a timestamp), else its text (ISO
    dates sort as text); missing is -inf (it never breaks the order)."""
    if value is None or value == "":
        return -math.inf
    try:
        return number(value)
    except ValueError:
        return str(value)


def in_order(previous: float | str, current: float | str) -> bool:
    """Whether `current` may follow `previous`; numbers and text do not mix."""
    if isinstance(previous, str) != isinstance(current, str):
        return previous == -math.inf or current == -math.inf
    return previous <= current  # type: ignore[operator]

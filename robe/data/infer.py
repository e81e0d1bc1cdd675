"""`robe data schema`: one pass over a CSV/TSV/Parquet file to a schema the user can edit.

Per column: numeric or not, distinct values (counted up to a cap), the largest bag when
values hold a separator, and whether the user key (or item key) fixes the column's
value (a column functionally tied to a key belongs to that side). From these:
- the label rule: 0/1 labels as they are; other numbers become "1 when label >= t",
  with t the observed value whose positive rate is nearest one half;
- dense vs sparse: keys, text, multi-valued and integer columns with few distinct values
  (<= 50) are sparse; other numbers are dense, standardized on the training split;
- `size`: twice the distinct values (the hashing trick's headroom), at least 16;
- `dim`: 16 when a table is large (> 1000 distinct values), else 8.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from robe.data.cells import in_order, time_value
from robe.data.table import NamedRows, named_rows
from robe.errors import DataError
from robe.schema import (
    DenseFeature,
    LabelRule,
    Schema,
    Side,
    Source,
    SparseFeature,
)

DISTINCT_CAP = 1_000_000  # distinct values tracked per column; beyond it, "more than"
TIE_CAP = 200_000  # key values tracked for side detection
SMALL_INTEGER_CARDINALITY = 50
SEPARATORS = ("|", ";")
_CONFLICT = object()


@dataclass(frozen=True)
class InferConfig:
    data: Path
    label: str
    ignore: tuple[str, ...] = ()
    user_key: str | None = None
    item_key: str | None = None
    time: str | None = None
    name: str = ""
    columns: tuple[str, ...] = ()  # a file without a header row: its column names
    delimiter: str = ""  # "" = by the extension (tab for .tsv/.txt, else comma)


@dataclass
class _Column:
    name: str
    non_empty: int = 0
    numeric: int = 0
    integer: int = 0
    distinct: set[str] = field(default_factory=set)
    capped: bool = False
    separator: str | None = None
    parts: set[str] = field(default_factory=set)
    max_values: int = 1
    minimum: float = math.inf
    ties: dict[str, dict[str, object]] = field(default_factory=dict)

    def add(self, text: str) -> None:
        if text == "":
            return
        self.non_empty += 1
        if not self.capped:
            self.distinct.add(text)
            if len(self.distinct) > DISTINCT_CAP:
                self.capped = True
        try:
            x = float(text)
            if math.isfinite(x):
                self.numeric += 1
                self.minimum = min(self.minimum, x)
                self.integer += x == int(x) and "." not in text
        except ValueError:
            pass
        for sep in SEPARATORS:
            if sep in text:
                self.separator = self.separator or sep
        if self.separator is not None and self.separator in text:
            values = [p for p in text.split(self.separator) if p]
            self.max_values = max(self.max_values, len(values))
            if len(self.parts) <= DISTINCT_CAP:
                self.parts.update(values)
        elif self.separator is not None:
            self.parts.add(text)

    def tie(self, key: str, key_value: str, value: str) -> None:
        seen = self.ties.setdefault(key, {})
        if len(seen) >= TIE_CAP and key_value not in seen:
            return
        old = seen.setdefault(key_value, value)
        if old is not _CONFLICT and old != value:
            seen[key_value] = _CONFLICT

    def tied_to(self, key: str) -> bool:
        seen = self.ties.get(key, {})
        return bool(seen) and all(v is not _CONFLICT for v in seen.values())

    @property
    def all_numeric(self) -> bool:
        return self.non_empty > 0 and self.numeric == self.non_empty

    @property
    def cardinality(self) -> int:
        return len(self.parts) if self.separator else len(self.distinct)


@dataclass(frozen=True)
class Inferred:
    schema: Schema
    rows: int
    positive_rate: float
    table: list[tuple[str, ...]]  # the summary: one row per column
    notes: list[str]

    def format(self) -> str:
        header = ("column", "kind", "side", "distinct", "size", "notes")
        rows = [header, *self.table]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join([*lines, "", *self.notes])


def source_format(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".tsv", ".txt")):
        return "tsv"
    return "csv"


def infer_schema(config: InferConfig) -> Inferred:
    path = config.data
    if not path.is_file():
        raise DataError(f"--data {path}: no such file")
    fmt = source_format(path)
    if fmt == "parquet" and (config.columns or config.delimiter):
        raise DataError(f"{path}: Parquet names its columns: drop --columns and --delimiter")
    if len(config.delimiter) > 1:
        raise DataError(f"--delimiter {config.delimiter!r}: give one character, or 'tab'")
    source = Source(
        format=fmt,  # type: ignore[arg-type]
        delimiter=config.delimiter,
        header=not config.columns,
        columns=config.columns,
    )
    with named_rows(path, source, 8192) as named:
        columns, stats, rows, label_counts = _scan(path, named, config)
    keys = [k for k in (config.user_key, config.item_key) if k is not None]
    if rows == 0:
        raise DataError(f"{path}: no rows")
    rule, positive_rate, rule_note = _label_rule(path, config.label, label_counts)
    skip = {config.label, *config.ignore, *([config.time] if config.time else [])}
    dense: list[DenseFeature] = []
    sparse: list[SparseFeature] = []
    summary: list[tuple[str, ...]] = []
    for c in columns:
        col = stats[c]
        if c in skip:
            role = "label" if c == config.label else "time" if c == config.time else "ignored"
            summary.append((c, role, "", _count(col), "", rule_note if c == config.label else ""))
            continue
        side = _side(c, col, config)
        is_key = c in keys
        small_int = (
            col.all_numeric
            and col.integer == col.non_empty
            and col.cardinality <= SMALL_INTEGER_CARDINALITY
        )
        if col.all_numeric and not is_key and not small_int and col.separator is None:
            dense.append(DenseFeature(c, side, transform="standardize"))
            summary.append((c, "dense", side, _count(col), "", "standardize"))
            continue
        size = max(16, 2 * col.cardinality)
        note = ""
        if col.separator is not None:
            note = f"multi-valued ('{col.separator}', up to {col.max_values})"
            sparse.append(
                SparseFeature(
                    c, side, size, hex=False, separator=col.separator, max_values=col.max_values
                )
            )
        else:
            sparse.append(SparseFeature(c, side, size, hex=False))
        if col.non_empty == 0:
            note = "always empty"
        summary.append((c, "sparse", side, _count(col), str(size), note))
    if not sparse:
        raise DataError(
            f"{path}: no categorical column to embed; name one with --user-key or --item-key"
        )
    dim = 16 if max(f.size for f in sparse) > 2000 else 8
    schema = Schema(
        name=config.name or path.name.split(".")[0],
        dense=tuple(dense),
        sparse=tuple(sparse),
        dim=dim,
        source=dataclasses.replace(source, label=rule, time=config.time),
    )
    notes = [
        f"rows: {rows}; label: {rule.describe()} (positive rate {positive_rate:.3f})",
        f"dim: {dim}; sizes are hashing-trick rows (about twice the distinct values)",
    ]
    if config.time is None:
        notes.append("no --time: training holds out the file's last rows for validation")
    return Inferred(schema, rows, positive_rate, summary, notes)


def _scan(
    path: Path, table: NamedRows, config: InferConfig
) -> tuple[list[str], dict[str, _Column], int, Counter[str]]:
    """The one pass: per-column statistics, the row count and the label's value counts."""
    columns = table.columns
    flags = {config.label: "--label", **{c: "--ignore" for c in config.ignore}}
    for flag, column in (
        ("--user-key", config.user_key),
        ("--item-key", config.item_key),
        ("--time", config.time),
    ):
        if column is not None:
            flags[column] = flag
    for column, flag in flags.items():
        if column not in columns:
            shown = ", ".join(columns[:12]) + (" ..." if len(columns) > 12 else "")
            raise DataError(f"{path}: no column {column!r} (given to {flag}); the file has {shown}")
    index = {c: i for i, c in enumerate(columns)}
    stats = {c: _Column(c) for c in columns}
    keys = [k for k in (config.user_key, config.item_key) if k is not None]
    rows = 0
    header_lines = 0 if config.columns else 1  # for line numbers in messages
    last_time: float | str = -math.inf
    label_counts: Counter[str] = Counter()
    label_index = index[config.label]
    for block in table.blocks:
        for row in block:
            if len(row) != len(columns):
                raise DataError(
                    f"{path}:{rows + 1 + header_lines}: expected {len(columns)} fields, got "
                    f"{len(row)}"
                )
            rows += 1
            cells = ["" if v is None else str(v) for v in row]
            label_counts[cells[label_index]] += 1
            for c, text in zip(columns, cells, strict=True):
                stats[c].add(text)
            for k in keys:
                kv = cells[index[k]]
                for c, text in zip(columns, cells, strict=True):
                    if c not in keys:
                        stats[c].tie(k, kv, text)
            if config.time is not None:
                tv = time_value(cells[index[config.time]])
                if tv == -math.inf:
                    continue
                if not in_order(last_time, tv):
                    raise DataError(
                        f"{path}:{rows + header_lines}: rows are not in {config.time} order (the "
                        "validation split is the last rows): sort the file by "
                        f"{config.time} first"
                    )
                last_time = tv
    return columns, stats, rows, label_counts


def _count(col: _Column) -> str:
    return f">{DISTINCT_CAP}" if col.capped else str(col.cardinality)


def _side(name: str, col: _Column, config: InferConfig) -> Side:
    if name == config.user_key:
        return "user"
    if name == config.item_key:
        return "item"
    if config.item_key is not None and col.tied_to(config.item_key):
        return "item"
    if config.user_key is not None and col.tied_to(config.user_key):
        return "user"
    return "context"


def _label_rule(path: Path, name: str, counts: Counter[str]) -> tuple[LabelRule, float, str]:
    """The label rule, the positive rate it gives, and a note saying what was chosen."""
    counts = Counter({k: v for k, v in counts.items() if k != ""})
    total = sum(counts.values())
    if total == 0:
        raise DataError(f"{path}: label column {name!r} is empty")
    if set(counts) <= {"0", "1"}:
        if len(counts) < 2:
            raise DataError(
                f"{path}: label {name!r} holds only {next(iter(counts))!r}: a model needs "
                "both classes (check --label)"
            )
        return LabelRule(name), counts["1"] / total, "0/1 as is"
    try:
        numbers = Counter[float]()
        for text, n in counts.items():
            numbers[float(text)] += n
    except ValueError:
        raise DataError(
            f"{path}: label {name!r} is not numeric ({', '.join(sorted(counts)[:3])} ...): "
            'write a rule in the schema\'s source.label, e.g. {"op": "==", "value": "click"}'
        ) from None
    ordered = sorted(numbers)
    if len(ordered) < 2:
        raise DataError(
            f"{path}: label {name!r} has the single value {ordered[0]:g}: any rule gives "
            "one class, and a model needs both (check --label)"
        )
    # "1 when label >= t" for the observed t whose positive rate is nearest one half.
    best, best_rate = ordered[1], 0.0
    for t in ordered[1:]:
        rate = sum(n for v, n in numbers.items() if v >= t) / total
        if abs(rate - 0.5) < abs(best_rate - 0.5) or t == ordered[1]:
            best, best_rate = t, rate
    value: float | int = int(best) if best == int(best) else best
    return LabelRule(name, ">=", value), best_rate, f"rule: {name} >= {value:g}"

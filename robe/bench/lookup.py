"""`robe bench lookup`: lookups per second of ROBE against plain tables, side by side."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from robe.bench import machine, timing
from robe.bench.impls import (
    EmbeddingBagConcat,
    EmbeddingBagPerTable,
    FbgemmTBE,
    Impl,
    PlainTables,
    Robe,
    RobeInductor,
)
from robe.bench.names import EXTRA_IMPLS, ID_KINDS, IMPLS, PASSES, SHAPES
from robe.bench.workload import Shape, make_ids, plan_shape
from robe.schema import load_schema

GiB = 1 << 30


@dataclass(frozen=True)
class LookupBenchConfig:
    shapes: tuple[str, ...] = SHAPES
    batches: tuple[int, ...] = (256, 4096, 16384)
    ids: tuple[str, ...] = ID_KINDS
    passes: tuple[str, ...] = PASSES
    impls: tuple[str, ...] = IMPLS
    device: str = "cpu"
    repeats: int = 10
    warmup: int = 2
    max_seconds_per_case: float = 3.0
    burst: int = 5  # timed calls per turn, after one untimed (see timing.round_robin)
    compression: float = 1000.0
    chunk: int = 16
    plain_budget_bytes: int = 3 * GiB
    seed: int = 0

    def __post_init__(self) -> None:
        for name, given, allowed in (
            ("shape", self.shapes, SHAPES),
            ("ids", self.ids, ID_KINDS),
            ("pass", self.passes, PASSES),
            ("impl", self.impls, IMPLS + EXTRA_IMPLS),
        ):
            bad = [x for x in given if x not in allowed]
            if bad or not given:
                raise ValueError(f"{name} {bad or given} not in {allowed}")
        if any(b <= 0 for b in self.batches) or not self.batches:
            raise ValueError(f"batches {self.batches} must be positive")
        if self.compression < 1:
            raise ValueError(f"compression {self.compression} must be >= 1")
        for name in self.shapes:
            dim = load_schema(name).dim
            if self.chunk < 1 or dim % min(self.chunk, dim):
                raise ValueError(f"chunk {self.chunk} must be positive and divide {name}'s {dim}")


@dataclass
class ShapeImpls:
    impls: list[Impl] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def _build(config: LookupBenchConfig, shape: Shape, device: torch.device) -> ShapeImpls:
    out = ShapeImpls()
    wanted = set(config.impls)
    for fused, name in ((True, "robe-fused"), (False, "robe-reference")):
        if name in wanted:
            out.impls.append(Robe(shape, config.compression, config.chunk, device, fused))
    if "robe-inductor" in wanted:
        out.impls.append(RobeInductor(shape, config.compression, config.chunk, device))
    if wanted & {"embedding_bag-concat", "embedding_bag-per-table"}:
        tables = PlainTables(shape, device)
        if "embedding_bag-concat" in wanted:
            out.impls.append(EmbeddingBagConcat(tables))
        if "embedding_bag-per-table" in wanted:
            out.impls.append(EmbeddingBagPerTable(tables))
    if "fbgemm-tbe" in wanted:
        try:
            out.impls.append(FbgemmTBE(shape, device))
        except (ImportError, OSError, RuntimeError) as exc:  # absent, or built for another torch
            out.skipped["fbgemm-tbe"] = f"{type(exc).__name__}: {exc}"
    return out


def _sync(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return torch.cuda.synchronize
    return lambda: None


def _cases(
    config: LookupBenchConfig, shape: Shape, built: ShapeImpls, device: torch.device
) -> Iterator[dict[str, Any]]:
    for batch in config.batches:
        for ids_kind in config.ids:
            ids = make_ids(ids_kind, batch, shape.table_sizes, config.seed).to(device)
            for pass_ in config.passes:
                train = pass_ == "train"
                calls = {impl.name: impl.prepare(ids, train) for impl in built.impls}
                timings = timing.round_robin(
                    calls,
                    config.repeats,
                    config.warmup,
                    config.max_seconds_per_case,
                    _sync(device),
                    config.burst,
                )
                lookups = batch * shape.num_tables
                for impl in built.impls:
                    t = timings[impl.name]
                    yield {
                        "impl": impl.name,
                        "device": device.type,
                        "shape": shape.name,
                        "dim": shape.dim,
                        "batch": batch,
                        "ids": ids_kind,
                        "pass": pass_,
                        "lookups_per_s": lookups / t.median_s,
                        "median_s": t.median_s,
                        "lookups_per_cpu_s": lookups / max(t.median_cpu_s, 1e-9),
                        "median_cpu_s": t.median_cpu_s,
                        "repeats": t.repeats,
                        "embedding_bytes": impl.embedding_bytes,
                    }


def _shape_note(shape: Shape) -> dict[str, Any]:
    note: dict[str, Any] = {
        "shape": shape.name,
        "dim": shape.dim,
        "full_plain_bytes": shape.full_bytes,
        "plain_bytes_measured": shape.plain_bytes,
    }
    if shape.cap is not None:
        note["plain_tables_capped_at_rows"] = shape.cap
    return note


def run(
    config: LookupBenchConfig, progress: Callable[[dict[str, Any]], None] = lambda case: None
) -> dict[str, Any]:
    """The whole matrix; `progress` sees each case as it is measured."""
    device, host = machine.start(config.device)
    result: dict[str, Any] = {
        "machine": host,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(config).items()},
        "notes": [
            "lookups_per_s = batch * tables / median seconds of one call (round-robin repeats)",
            "lookups_per_cpu_s uses the process CPU time of the call instead (all threads): "
            "steadier than wall time on a shared machine",
            "plain-table rows (id mod table size + table start) are computed outside the "
            "timed call; ROBE hashes raw ids inside it",
            "train = forward + backward: dense array gradient for ROBE, sparse gradients "
            "for plain tables; fbgemm-tbe fuses an SGD update (lr 0) into its backward",
        ],
        "shapes": [],
        "skipped": {},
        "cases": [],
    }
    for name in config.shapes:
        shape = plan_shape(name, config.plain_budget_bytes)
        result["shapes"].append(_shape_note(shape))
        built = _build(config, shape, device)
        result["skipped"].update(built.skipped)
        for case in _cases(config, shape, built, device):
            result["cases"].append(case)
            progress(case)
        del built
        gc.collect()
    return result

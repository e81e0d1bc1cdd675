"""`robe bench model`: whole-DLRM forward rows/s, ROBE against plain tables, per runtime.

A runtime is a name and a function that turns an eval-mode DLRM (with its spec and a
scratch folder) into a callable: eager, `torch.compile`, and the three exported
formats, each written by model_export and opened by model_export.loaders as a server
would. It lives in model_export, not in the robe library, because it imports both.
"""

from __future__ import annotations

import gc
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from model_export.artifact import write_format
from model_export.loaders import format_scorer
from robe.bench import machine, timing
from robe.bench.names import EMBEDDINGS
from robe.bench.workload import make_ids
from robe.checkpoint import ModelSpec
from robe.embeddings import EmbeddingConfig, build_embeddings
from robe.model import DLRM, get_preset
from robe.schema import load_schema

Forward = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
Runtime = Callable[[DLRM, ModelSpec, Path], Forward]


def _eager(model: DLRM, spec: ModelSpec, workdir: Path) -> Forward:
    return model


def _compiled(model: DLRM, spec: ModelSpec, workdir: Path) -> Forward:
    return torch.compile(model)


def _exported(fmt: str) -> Runtime:
    """Export to `fmt` in `workdir`, then load it with model_export's loader for it."""

    def runtime(model: DLRM, spec: ModelSpec, workdir: Path) -> Forward:
        device = next(model.parameters()).device.type
        entry = write_format(fmt, model.cpu(), spec, workdir)
        model.to(device)
        scorer = format_scorer(workdir, fmt, entry, device=device)

        def forward(dense: torch.Tensor, values: torch.Tensor, offsets: torch.Tensor) -> Any:
            return scorer(dense.cpu().numpy(), values.cpu().numpy(), offsets.cpu().numpy())

        return forward

    return runtime


RUNTIMES: dict[str, Runtime] = {
    "eager": _eager,
    "compiled": _compiled,
    "onnx": _exported("onnx"),
    "torchscript": _exported("torchscript"),
    "aoti": _exported("aoti"),
}


@dataclass(frozen=True)
class ModelBenchConfig:
    schema: str = "criteo-kaggle"
    preset: str = "kaggle"
    batch: int = 4096
    compression: float = 1000.0
    embeddings: tuple[str, ...] = EMBEDDINGS
    runtimes: tuple[str, ...] = tuple(RUNTIMES)
    device: str = "cpu"
    repeats: int = 10
    warmup: int = 3
    max_seconds_per_case: float = 5.0
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [r for r in self.runtimes if r not in RUNTIMES]
        if unknown or not self.runtimes:
            raise ValueError(f"runtimes {unknown or self.runtimes} not in {tuple(RUNTIMES)}")
        bad = [e for e in self.embeddings if e not in EMBEDDINGS]
        if bad or not self.embeddings:
            raise ValueError(f"embeddings {bad or self.embeddings} not in {EMBEDDINGS}")
        if self.batch <= 0:
            raise ValueError(f"batch {self.batch} must be positive")


def _model(config: ModelBenchConfig, kind: str, device: torch.device) -> tuple[DLRM, ModelSpec]:
    schema = load_schema(config.schema)
    preset = get_preset(config.preset)
    sizes = tuple(schema.table_sizes)
    if kind == "robe":
        emb = EmbeddingConfig.robe_for_compression(sizes, schema.dim, config.compression)
    else:
        emb = EmbeddingConfig("full", schema.dim, sizes)
    model = DLRM(schema.num_dense, build_embeddings(emb), preset).to(device).eval()
    return model, ModelSpec(schema, preset, emb)


def run(
    config: ModelBenchConfig, progress: Callable[[dict[str, Any]], None] = lambda case: None
) -> dict[str, Any]:
    device, host = machine.start(config.device)
    schema = load_schema(config.schema)
    gen = torch.Generator().manual_seed(config.seed)
    dense = torch.randn(config.batch, schema.num_dense, generator=gen).to(device)
    ids = make_ids("zipf", config.batch, tuple(schema.table_sizes), config.seed).to(device)
    values = ids.reshape(-1)
    offsets = torch.arange(values.numel() + 1, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    cases: list[dict[str, Any]] = []
    for kind in config.embeddings:
        model, spec = _model(config, kind, device)
        calls: dict[str, timing.Call] = {}
        errors: dict[str, str] = {}
        scratch = tempfile.TemporaryDirectory(prefix="robe-bench-")
        for name in config.runtimes:
            workdir = Path(scratch.name) / name
            workdir.mkdir()
            try:
                forward = RUNTIMES[name](model, spec, workdir)
                with torch.inference_mode():
                    forward(dense, values, offsets)  # compiles, for runtimes that do
            except Exception as exc:  # a runtime missing here is a result, not a crash
                errors[name] = f"{type(exc).__name__}: {exc}"[:500]
                continue
            calls[name] = _timed_call(forward, dense, values, offsets)
        timings = timing.round_robin(
            calls, config.repeats, config.warmup, config.max_seconds_per_case, sync
        )
        for name in config.runtimes:
            case: dict[str, Any] = {
                "embedding": kind,
                "runtime": name,
                "device": device.type,
                "schema": config.schema,
                "preset": config.preset,
                "batch": config.batch,
                "embedding_bytes": model.embeddings.embedding_bytes,
            }
            if name in timings:
                t = timings[name]
                case |= {
                    "rows_per_s": config.batch / t.median_s,
                    "median_s": t.median_s,
                    "median_cpu_s": t.median_cpu_s,
                    "repeats": t.repeats,
                }
            else:
                case["error"] = errors[name]
            cases.append(case)
            progress(case)
        del model, calls
        gc.collect()
        scratch.cleanup()
    return {
        "machine": host,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(config).items()},
        "notes": [f"ROBE at compression {config.compression:g}; Zipf ids; inference mode"],
        "cases": cases,
    }


def _timed_call(
    forward: Forward, dense: torch.Tensor, values: torch.Tensor, offsets: torch.Tensor
) -> timing.Call:
    def call() -> None:
        with torch.inference_mode():
            forward(dense, values, offsets)

    return call

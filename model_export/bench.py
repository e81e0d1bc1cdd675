"""`robe bench model`: whole-DLRM forward rows/s, ROBE against plain tables, per preset,
runtime and precision.

A runtime is a name and a function that turns an eval-mode DLRM (with its spec, a
precision and a scratch folder) into a callable returning scores: eager,
`torch.compile`, and the three exported formats, each written by model_export and
opened by model_export.loaders as a server would. It lives in model_export, not in the
robe library, because it imports both. Precisions come from model_export.precision;
one a runtime does not offer is a skipped case with the reason. Every runtime of a run
gets the same threads (`Threads`): torch's pool (eager, compiled, TorchScript,
AOTInductor and the ROBE op) and ONNX Runtime's intra-op pool are both set to
`threads`, and ONNX Runtime's threads spin between runs only when OpenMP's may (not
under `OMP_WAIT_POLICY=PASSIVE`, which `robe bench` sets). With a trained run for
a preset (`checkpoints`), its ROBE model is benchmarked and every variant's validation
AUC is compared with eager fp32 (`auc_delta`, the export's accuracy guard).
"""

from __future__ import annotations

import gc
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from model_export.artifact import write_format
from model_export.calibration import Calibration
from model_export.loaders import format_scorer
from robe.bench import machine, timing
from robe.bench.names import EMBEDDINGS
from robe.bench.workload import make_ids
from robe.checkpoint import ModelSpec
from robe.embeddings import EmbeddingConfig, build_embeddings
from robe.model import DLRM, get_preset
from robe.schema import load_schema

Forward = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], Any]


@dataclass(frozen=True)
class Threads:
    """The threads every runtime of a run computes on."""

    count: int
    spinning: bool  # ONNX Runtime's pool busy-waits between runs, as OpenMP's ACTIVE

    @classmethod
    def like_torch(cls, count: int) -> Threads:
        """`count` threads (0: torch's current number), spinning as OpenMP's threads do."""
        passive = os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE"
        return cls(count or torch.get_num_threads(), spinning=not passive)


@dataclass(frozen=True)
class Build:
    """What a runtime turns into a forward: a model at a precision, in a scratch folder."""

    model: DLRM
    spec: ModelSpec
    workdir: Path
    precision: str
    threads: Threads
    calibration: Calibration | None  # int8's static input scales (None: per row)


Runtime = Callable[[Build], Forward]
# Preset -> the schema whose tables it is sized for.
PRESET_SCHEMAS = {
    "kaggle": "criteo-kaggle",
    "terabyte": "criteo-terabyte",
    "small": "criteo-kaggle",
}


def _scores(module: Callable[..., torch.Tensor]) -> Forward:
    def forward(dense: torch.Tensor, values: torch.Tensor, offsets: torch.Tensor) -> Any:
        return torch.sigmoid(module(dense, values, offsets))  # as the exported formats

    return forward


def _eager(build: Build) -> Forward:
    from model_export.precision import torch_variant

    device = next(build.model.parameters()).device.type
    return _scores(torch_variant(build.model, build.precision, device, build.calibration))


def _compiled(build: Build) -> Forward:
    return torch.compile(_eager(build))


def _exported(fmt: str) -> Runtime:
    """Export to `fmt` in `workdir` at `precision` as `robe export --precision` does, then
    load it with model_export's loader for it."""

    def runtime(build: Build) -> Forward:
        from model_export.precision import (
            FP32,
            TORCH_FORMATS,
            check_torch_precision,
            write_onnx_variant,
        )

        model, precision, workdir = build.model, build.precision, build.workdir
        threads = build.threads
        device = next(model.parameters()).device.type
        if fmt in TORCH_FORMATS and precision != FP32:
            check_torch_precision(precision, "cpu")  # variants are compiled for CPU
            check_torch_precision(precision, device)
        onnx_variant = fmt == "onnx" and precision != FP32
        written = FP32 if onnx_variant else precision
        entry = write_format(fmt, model.cpu(), build.spec, workdir, written, build.calibration)
        model.to(device)
        if onnx_variant:
            external = bool(entry.get("external_data"))
            path = workdir / entry["file"]
            entry = write_onnx_variant(path, precision, external, build.calibration)
        scorer = format_scorer(
            workdir, fmt, entry, device=device, threads=threads.count, spinning=threads.spinning
        )

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
    presets: tuple[str, ...] = ("kaggle",)
    precisions: tuple[str, ...] = ("fp32",)
    batch: int = 4096
    compression: float = 1000.0
    embeddings: tuple[str, ...] = EMBEDDINGS
    runtimes: tuple[str, ...] = tuple(RUNTIMES)
    device: str = "cpu"
    repeats: int = 10
    warmup: int = 3
    max_seconds_per_case: float = 5.0
    seed: int = 0
    threads: int = 0  # every runtime's threads; 0: torch's default (the cores)
    # preset -> a trained ROBE run: its model is benchmarked and its validation rows guard
    checkpoints: tuple[tuple[str, Path], ...] = ()
    guard_rows: int = 100_000
    # plain tables are built only when they fit in this share of the available memory
    memory_fraction: float = 0.5

    def __post_init__(self) -> None:
        from model_export.precision import PRECISIONS

        bad_presets = [p for p in self.presets if p not in PRESET_SCHEMAS]
        if bad_presets or not self.presets:
            raise ValueError(
                f"presets {bad_presets or self.presets} not in {tuple(PRESET_SCHEMAS)}"
            )
        bad_precisions = [p for p in self.precisions if p not in PRECISIONS]
        if bad_precisions or not self.precisions:
            raise ValueError(f"precisions {bad_precisions or self.precisions} not in {PRECISIONS}")
        for preset, _ in self.checkpoints:
            if preset not in self.presets:
                raise ValueError(f"a checkpoint for preset {preset!r}, which is not benchmarked")
        unknown = [r for r in self.runtimes if r not in RUNTIMES]
        if unknown or not self.runtimes:
            raise ValueError(f"runtimes {unknown or self.runtimes} not in {tuple(RUNTIMES)}")
        bad = [e for e in self.embeddings if e not in EMBEDDINGS]
        if bad or not self.embeddings:
            raise ValueError(f"embeddings {bad or self.embeddings} not in {EMBEDDINGS}")
        if self.batch <= 0:
            raise ValueError(f"batch {self.batch} must be positive")
        if self.threads < 0:
            raise ValueError(f"threads {self.threads} must be positive (0: torch's default)")


def _model(preset_name: str, config: ModelBenchConfig, kind: str) -> tuple[DLRM, ModelSpec]:
    schema = load_schema(PRESET_SCHEMAS[preset_name])
    preset = get_preset(preset_name)
    sizes = tuple(schema.table_sizes)
    if kind == "robe":
        emb = EmbeddingConfig.robe_for_compression(sizes, preset.dim, config.compression)
    else:
        emb = EmbeddingConfig("full", preset.dim, sizes)
    model = DLRM(schema.num_dense, build_embeddings(emb), preset).eval()
    return model, ModelSpec(schema, preset, emb)


def _plain_bytes(preset_name: str) -> int:
    schema = load_schema(PRESET_SCHEMAS[preset_name])
    return sum(schema.table_sizes) * get_preset(preset_name).dim * 4


def _available_bytes() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


@dataclass
class _Guard:
    """A trained run's validation rows and eager fp32's scores on them."""

    rows: Any  # model_export.accuracy.LabelledRows
    reference: Any
    source: str

    @classmethod
    def load(cls, model: DLRM, spec: ModelSpec, run: Path, limit: int) -> _Guard:
        from model_export.accuracy import score_all, validation_rows
        from model_export.artifact import read_metrics

        rows, source = validation_rows(spec.schema, read_metrics(run), None, limit)
        eager = _numpy(_scores(model))
        return cls(rows, score_all(eager, rows), source)

    def check(self, forward: Forward) -> dict[str, Any]:
        from model_export.accuracy import guard, score_all

        return guard(self.rows.labels, self.reference, score_all(_numpy(forward), self.rows))


def _numpy(forward: Forward) -> Callable[..., Any]:
    def score(dense: Any, values: Any, offsets: Any) -> Any:
        with torch.inference_mode():
            out = forward(
                torch.from_numpy(dense), torch.from_numpy(values), torch.from_numpy(offsets)
            )
        return out.float().numpy() if isinstance(out, torch.Tensor) else out

    return score


def run(
    config: ModelBenchConfig, progress: Callable[[dict[str, Any]], None] = lambda case: None
) -> dict[str, Any]:
    threads = Threads.like_torch(config.threads)
    before = torch.get_num_threads()
    torch.set_num_threads(threads.count)
    try:
        return _run(config, threads, progress)
    finally:
        torch.set_num_threads(before)


def _run(
    config: ModelBenchConfig, threads: Threads, progress: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    device, host = machine.start(config.device)
    cases: list[dict[str, Any]] = []
    runs = dict(config.checkpoints)
    for preset in config.presets:
        for kind in config.embeddings:
            base: dict[str, Any] = {"preset": preset, "schema": PRESET_SCHEMAS[preset]}
            base["embedding"] = kind
            base |= {"device": device.type, "batch": config.batch, "threads": threads.count}
            if kind == "full" and device.type == "cpu":
                need, have = _plain_bytes(preset), _available_bytes()
                if need > config.memory_fraction * have:
                    case = base | {
                        "skipped": f"plain tables need {need / 2**30:.1f} GiB; "
                        f"{have / 2**30:.1f} GiB available here",
                        "memory_needed_bytes": need,
                    }
                    cases.append(case)
                    progress(case)
                    continue
            cases += _preset_cases(
                config, preset, kind, runs.get(preset), device, threads, base, progress
            )
    return {
        "machine": host,
        "config": {k: _jsonable(v) for k, v in vars(config).items()},
        "threads": {"count": threads.count, "onnxruntime_spinning": threads.spinning},
        "notes": [
            f"ROBE at compression {config.compression:g} (or the trained run's); Zipf ids; "
            "inference mode; auc_delta: validation AUC of the variant minus eager fp32's"
        ],
        "cases": cases,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return str(value) if isinstance(value, Path) else value


def _preset_cases(
    config: ModelBenchConfig,
    preset: str,
    kind: str,
    trained: Path | None,
    device: torch.device,
    threads: Threads,
    base: dict[str, Any],
    progress: Callable[[dict[str, Any]], None],
) -> list[dict[str, Any]]:
    from model_export.precision import PrecisionUnavailableError

    guard: _Guard | None = None
    calibration: Calibration | None = None
    if trained is not None and kind == "robe":
        from model_export.artifact import read_metrics
        from model_export.calibration import run_calibration
        from robe.checkpoint import load_checkpoint

        model, spec = load_checkpoint(trained)
        if spec.preset.name != preset:
            raise ValueError(f"{trained} is a {spec.preset.name} run, given for {preset}")
        guard = _Guard.load(model, spec, trained, config.guard_rows)
        # int8 as `robe export` makes it from this run: scales from its training rows
        calibration = run_calibration(model.eval(), spec.schema, read_metrics(trained))
    else:
        model, spec = _model(preset, config, kind)
    schema = spec.schema
    gen = torch.Generator().manual_seed(config.seed)
    dense = torch.randn(config.batch, schema.num_dense, generator=gen).to(device)
    ids = make_ids("zipf", config.batch, tuple(schema.table_sizes), config.seed).to(device)
    values = ids.reshape(-1)
    offsets = torch.arange(values.numel() + 1, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    model = model.to(device).eval()
    calls: dict[str, timing.Call] = {}
    notes: dict[str, dict[str, Any]] = {}
    scratch = tempfile.TemporaryDirectory(prefix="robe-bench-")
    for name in config.runtimes:
        for precision in config.precisions:
            key = f"{name}:{precision}"
            workdir = Path(scratch.name) / name / precision
            workdir.mkdir(parents=True)
            try:
                build = Build(model, spec, workdir, precision, threads, calibration)
                forward = RUNTIMES[name](build)
                with torch.inference_mode():
                    forward(dense, values, offsets)  # compiles, for runtimes that do
            except PrecisionUnavailableError as exc:
                notes[key] = {"skipped": str(exc)}
                continue
            except Exception as exc:  # a runtime missing here is a result, not a crash
                notes[key] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
                continue
            if guard is not None:
                notes[key] = guard.check(forward) | {"guard_rows": len(guard.rows.labels)}
            calls[key] = _timed_call(forward, dense, values, offsets)
    timings = timing.round_robin(
        calls, config.repeats, config.warmup, config.max_seconds_per_case, sync
    )
    cases = []
    for name in config.runtimes:
        for precision in config.precisions:
            key = f"{name}:{precision}"
            case = base | {
                "runtime": name,
                "precision": precision,
                "embedding_bytes": model.embeddings.embedding_bytes,
                "trained": str(trained) if guard is not None else None,
            }
            if key in timings:
                t = timings[key]
                case |= {
                    "rows_per_s": config.batch / t.median_s,
                    "median_s": t.median_s,
                    "median_cpu_s": t.median_cpu_s,
                    "repeats": t.repeats,
                }
            if precision == "int8":
                # how the int8 layers scale their inputs
                case["int8_activations"] = (
                    calibration.entry() | {"scales": "static"}
                    if calibration is not None
                    else {"scales": "at run time"}
                )
            case |= notes.get(key, {})
            cases.append(case)
            progress(case)
    del model, calls
    gc.collect()
    scratch.cleanup()
    return cases


def _timed_call(
    forward: Forward, dense: torch.Tensor, values: torch.Tensor, offsets: torch.Tensor
) -> timing.Call:
    def call() -> None:
        with torch.inference_mode():
            forward(dense, values, offsets)

    return call

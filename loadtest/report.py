"""`report.json` and `report.md`: every model's sweep, memory and start-up, side by side."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest.runner import RateResult
from robe.bench.machine import describe
from service.metrics import STAGES


@dataclass(frozen=True)
class ModelRun:
    """What was measured of one model (None where the mode cannot measure it)."""

    name: str
    artifact: str | None
    info: dict[str, Any]  # the model's /v1/models entry
    sweep: tuple[RateResult, ...]
    batch_rows: tuple[tuple[float, int], ...]  # (upper bound, batches) during the sweep
    stage_ms: dict[str, float | None] = field(default_factory=dict)  # server stage means
    mean_batch_rows: float | None = None
    artifact_bytes: int | None = None
    rss_bytes: int | None = None  # peak seen: after ready and after every rate
    rss_file_bytes: int | None = None  # of rss_bytes, file-backed (mapped weights, libraries)
    rss_ready_bytes: int | None = None
    cold_start_s: float | None = None


def knee(sweep: tuple[RateResult, ...], target_ms: float) -> RateResult | None:
    """The highest rate such that it and every lower rate had no error and a p99 within
    the target.

    A lucky rate above one that already missed the target does not count: on a shared
    machine a single point can pass by chance, a knee cannot.
    """
    best = None
    for r in sorted(sweep, key=lambda r: r.config.rate):
        p99 = r.percentile_ms(99.0)
        if r.error_count or p99 is None or p99 > target_ms:
            break
        best = r
    return best


def rps_at_p99_target(sweep: tuple[RateResult, ...], target_ms: float) -> float | None:
    """Sustained throughput at the target: the achieved RPS at the knee."""
    k = knee(sweep, target_ms)
    return None if k is None else k.achieved_rps


PACKAGES = ("torch", "onnxruntime", "fastapi", "uvicorn", "numpy")


def machine() -> dict[str, Any]:
    """The machine (robe.bench.machine), with the load average at the end of the run."""
    # other work on the machine while measuring (1, 5, 15 min averages of runnable tasks)
    return describe("cpu") | {"load_average": [round(x, 2) for x in os.getloadavg()]}


def build(runs: list[ModelRun], p99_target_ms: float, settings: dict[str, Any]) -> dict[str, Any]:
    models = {}
    for run in runs:
        # Compared by the offered rate at the knee: achieved rates at one step differ by
        # a few tenths of a request per second by chance.
        top = knee(run.sweep, p99_target_ms)
        models[run.name] = {
            "artifact": run.artifact,
            "embedding": run.info.get("embedding"),
            "backend": run.info.get("backend"),
            "device": run.info.get("device"),
            "precision": run.info.get("precision"),
            "embedding_bytes": run.info.get("embedding_bytes"),
            "full_equivalent_bytes": run.info.get("full_equivalent_bytes"),
            "artifact_bytes": run.artifact_bytes,
            "rss_bytes": run.rss_bytes,
            "rss_file_bytes": run.rss_file_bytes,
            "rss_ready_bytes": run.rss_ready_bytes,
            "cold_start_s": None if run.cold_start_s is None else round(run.cold_start_s, 3),
            "rps_at_p99_target": None if top is None else _round(top.achieved_rps),
            "rate_at_p99_target": None if top is None else top.config.rate,
            "highest_rate": max((r.config.rate for r in run.sweep), default=None),
            "batch_rows": [[le, n] for le, n in run.batch_rows],
            "stage_mean_ms": run.stage_ms,
            "mean_batch_rows": _round(run.mean_batch_rows),
            "sweep": [r.summary() for r in run.sweep],
        }
    return {
        "machine": machine(),
        "p99_target_ms": p99_target_ms,
        "settings": settings,
        "models": models,
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def _mb(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 1e6:,.1f} MB"


def _rps(x: float | None) -> str:
    return "none" if x is None else f"{x:,.1f} req/s"


def _ms(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def _pair(models: dict[str, Any]) -> tuple[str, str] | None:
    """(ROBE model, plain-table model) names, when the report holds one of each."""
    robe = next((n for n, m in models.items() if m["embedding"] == "robe"), None)
    full = next((n for n, m in models.items() if m["embedding"] == "full"), None)
    return (robe, full) if robe and full else None


def comparison(report: dict[str, Any]) -> list[str]:
    """Plain statements of how the ROBE model measured against the plain-table one."""
    models = report["models"]
    pair = _pair(models)
    if pair is None:
        return []
    rn, fn = pair
    r, f = models[rn], models[fn]
    lines = []
    if r.get("precision") and f.get("precision"):
        lines.append(
            f"Precision served (`robe serve --precision auto`: the fastest variant whose "
            f"accuracy guard passed): {rn} {r['precision']}, {fn} {f['precision']}."
        )
    if r["artifact_bytes"] and f["artifact_bytes"]:
        ratio = f["artifact_bytes"] / r["artifact_bytes"]
        lines.append(
            f"Artifact: {rn} {_mb(r['artifact_bytes'])}, {fn} {_mb(f['artifact_bytes'])}: "
            f"ROBE's is {ratio:,.0f}x smaller."
        )
    if r["rss_bytes"] and f["rss_bytes"]:
        ratio = f["rss_bytes"] / r["rss_bytes"]
        word = "smaller" if ratio > 1 else "LARGER"
        lines.append(
            f"Resident memory of the whole server process: {rn} {_mb(r['rss_bytes'])}, "
            f"{fn} {_mb(f['rss_bytes'])}: ROBE's is {max(ratio, 1 / ratio):.1f}x {word}."
        )
    if r["cold_start_s"] is not None and f["cold_start_s"] is not None:
        lines.append(
            f"Cold start to ready: {rn} {r['cold_start_s']:.1f} s, {fn} {f['cold_start_s']:.1f} s."
        )
    target = report["p99_target_ms"]
    lines.append(
        f"Throughput at p99 <= {target:g} ms with no errors: "
        f"{rn} {_rps(r['rps_at_p99_target'])}, {fn} {_rps(f['rps_at_p99_target'])}: "
        f"{_verdict(r, f)}."
    )
    slower = [
        (a["rate"], a["p99_ms"], b["p99_ms"])
        for a, b in zip(r["sweep"], f["sweep"], strict=False)
        if a["rate"] == b["rate"] and a["p99_ms"] is not None and b["p99_ms"] is not None
        if a["p99_ms"] > b["p99_ms"]
    ]
    if slower:
        where = ", ".join(f"{rate:g} req/s ({a:.2f} vs {b:.2f} ms)" for rate, a, b in slower)
        lines.append(f"ROBE's p99 is higher than the baseline's at: {where}.")
    return lines


def _verdict(robe: dict[str, Any], full: dict[str, Any]) -> str:
    """ROBE against the baseline by the offered rate each sustained (the sweep's steps)."""
    rr, fr = robe["rate_at_p99_target"], full["rate_at_p99_target"]
    if rr is None and fr is None:
        return "neither model met the target at any rate measured"
    if rr is None:
        return "ROBE is SLOWER here (it met the target at no rate measured)"
    if fr is not None and rr < fr:
        return f"ROBE is SLOWER here (it met the target up to {rr:g} req/s offered, vs {fr:g})"
    if fr is not None and rr == fr:
        verdict = f"ROBE sustains as much (both met the target up to {rr:g} req/s offered)"
    else:
        verdict = f"ROBE sustains more (up to {rr:g} req/s offered, vs {fr or 0:g})"
    if rr == robe["highest_rate"]:
        verdict += "; that is the sweep's highest rate, so the knee lies above it"
    return verdict


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    models = report["models"]
    out = [
        "# Load test: ROBE vs plain embedding tables",
        "",
        f"Machine: {m['cpu']}, {m['cpu_cores']} cores, {m['memory_bytes'] / 2**30:.0f} GiB, "
        f"{m['platform']}, load average {'/'.join(map(str, m.get('load_average', [])))} at "
        f"the end, Python {m['python']}, "
        + ", ".join(f"{k} {m[k]}" for k in PACKAGES if m.get(k))
        + ".",
        "",
        f"Open loop (constant arrival rate; latency from the scheduled send time, exact "
        f"percentiles over every request), p99 target {report['p99_target_ms']:g} ms. "
        f"Settings: `{json.dumps(report['settings'], sort_keys=True)}`.",
        "",
    ]
    lines = comparison(report)
    if lines:
        out += ["## Summary", "", *[f"- {line}" for line in lines], ""]
    out += [
        "## Models",
        "",
        "| model | embedding | backend | precision | embedding params | artifact | RSS (peak) | "
        "of which file-backed | RSS at ready | cold start | req/s at p99 target |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in models.items():
        cold = "n/a" if r["cold_start_s"] is None else f"{r['cold_start_s']:.1f} s"
        rps = r["rps_at_p99_target"]
        out.append(
            f"| {name} | {r['embedding']} | {r['backend']} | {r.get('precision') or 'n/a'} | "
            f"{_mb(r['embedding_bytes'])} | "
            f"{_mb(r['artifact_bytes'])} | {_mb(r['rss_bytes'])} | "
            f"{_mb(r.get('rss_file_bytes'))} | {_mb(r['rss_ready_bytes'])} | "
            f"{cold} | {'none' if rps is None else f'{rps:g}'} |"
        )
    stages = STAGES
    if any(r.get("stage_mean_ms") for r in models.values()):
        out += [
            "",
            "Server-side stages during the sweep, mean ms per request (inference: per batch), "
            "from `robe_stage_duration_seconds`:",
            "",
            "| model | " + " | ".join(stages) + " | mean rows per batch |",
            "| --- " * (len(stages) + 2) + "|",
        ]
        for name, r in models.items():
            means = r.get("stage_mean_ms") or {}
            cells = " | ".join(_ms(means.get(s)) for s in stages)
            rows = r.get("mean_batch_rows")
            out.append(f"| {name} | {cells} | {'n/a' if rows is None else f'{rows:.1f}'} |")
    out += [
        "",
        "## Latency at equal load",
        "",
        "| rate (req/s) | model | achieved req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    rates = sorted({p["rate"] for r in models.values() for p in r["sweep"]})
    for rate in rates:
        for name, r in models.items():
            for p in r["sweep"]:
                if p["rate"] != rate:
                    continue
                errors = p["errors"]
                if errors:
                    kinds = ", ".join(f"{k}: {v}" for k, v in p["errors_by_kind"].items())
                    errors = f"{errors} ({kinds})"
                out.append(
                    f"| {rate:g} | {name} | {p['achieved_rps']:.1f} | {_ms(p['p50_ms'])} | "
                    f"{_ms(p['p90_ms'])} | {_ms(p['p99_ms'])} | {_ms(p['p999_ms'])} | {errors} |"
                )
    out += [
        "",
        "Plots: [latency against throughput](latency.png), "
        "[batch sizes](batch_sizes.png), [memory](memory.png).",
        "",
    ]
    return "\n".join(out)


def write(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(markdown(report))

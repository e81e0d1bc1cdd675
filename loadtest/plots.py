"""PNG plots of a report: every model on the same axes, units on every axis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter

PLOTS = ("latency.png", "batch_sizes.png", "memory.png")


def latency(report: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for i, (name, m) in enumerate(report["models"].items()):
        points = [p for p in m["sweep"] if p["p50_ms"] is not None]
        x = [p["achieved_rps"] for p in points]
        color = f"C{i}"
        ax.plot(x, [p["p99_ms"] for p in points], "o-", color=color, label=f"{name} p99")
        ax.plot(x, [p["p50_ms"] for p in points], "s--", color=color, label=f"{name} p50")
    ax.axhline(report["p99_target_ms"], color="grey", lw=0.8, ls=":", label="p99 target")
    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")  # 20, 50 rather than 2x10^1
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.tick_params(axis="y", which="minor", labelsize=7)
    ax.set_xlabel("achieved throughput (requests/s)")
    ax.grid(True, which="both", alpha=0.3)
    _finish(
        fig,
        ax,
        path,
        "latency from scheduled send (ms, log scale)",
        "Open-loop latency against throughput",
    )


def batch_sizes(report: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    models = report["models"]
    bounds = sorted({le for m in models.values() for le, _ in m["batch_rows"]})
    width = 0.8 / max(len(models), 1)
    pos = np.arange(len(bounds))
    for i, (name, m) in enumerate(models.items()):
        counts = dict((le, n) for le, n in m["batch_rows"])
        total = sum(counts.values()) or 1
        share = [100.0 * counts.get(le, 0) / total for le in bounds]
        ax.bar(pos + i * width, share, width, label=f"{name} ({total:,} batches)")
    labels = ["+inf" if np.isinf(le) else f"<={le:g}" for le in bounds]
    ax.set_xticks(pos + width * (len(models) - 1) / 2, labels, rotation=45, fontsize=8)
    ax.set_xlabel("rows per inference batch (histogram bucket)")
    _finish(
        fig,
        ax,
        path,
        "share of batches during the sweep (%)",
        "Batch size distribution (robe_batch_rows)",
    )


def memory(report: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    models = report["models"]
    kinds = [
        ("embedding_bytes", "embedding parameters"),
        ("artifact_bytes", "artifact on disk"),
        ("rss_bytes", "server resident memory (peak)"),
    ]
    width = 0.8 / max(len(models), 1)
    pos = np.arange(len(kinds))
    for i, (name, m) in enumerate(models.items()):
        values = [(m.get(key) or 0) / 1e6 for key, _ in kinds]
        bars = ax.bar(pos + i * width, values, width, label=name)
        ax.bar_label(bars, labels=[f"{v:,.1f}" if v else "n/a" for v in values], fontsize=7)
    ax.set_xticks(pos + width * (len(models) - 1) / 2, [label for _, label in kinds])
    ax.set_yscale("log")
    _finish(fig, ax, path, "size (MB, log scale)", "Memory and size per model")


def _finish(fig: Any, ax: Any, path: Path, ylabel: str, title: str) -> None:
    """Label, add the legend, save and close: every plot ends alike."""
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(report: dict[str, Any], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in PLOTS]
    latency(report, paths[0])
    batch_sizes(report, paths[1])
    memory(report, paths[2])
    return paths

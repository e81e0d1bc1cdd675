"""An accuracy result as a markdown table and a PNG of test AUC against embedding bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MARKERS = {"robe": "o", "hashing-trick": "s", "plain": "D", "logistic": "^", "popularity": "v"}


def _bytes(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


def accuracy_table(result: dict[str, Any]) -> str:
    head = ["model", "compression", "test AUC", "test logloss", "embedding bytes", "train s"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for c in result["cases"]:
        comp = f"{c['compression']:g}x" if c.get("compression") else ""
        if "skipped" in c:
            cells = [c["model"], comp, "skipped", c["skipped"], _bytes(c["embedding_bytes"]), ""]
        else:
            cells = [
                c["model"],
                comp,
                f"{c['auc']:.4f}",
                f"{c['logloss']:.4f}",
                _bytes(c["embedding_bytes"]),
                f"{c['train_seconds']:.0f}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    rows = result["rows"]
    return (
        f"Data: `{result['data']}` (schema {result['schema']}): {rows['fit']:,} rows trained on, "
        f"{rows['stop']:,} for early stopping, {rows['test']:,} test rows "
        f"(CTR {result['test_ctr']:.3f}). Machine: {result['machine']['description']}.\n\n"
        + "\n".join(lines)
        + "\n"
    )


def accuracy_figure(result: dict[str, Any], path: Path) -> None:
    """AUC against bytes (log scale); a skipped case is a dashed line at its bytes."""
    try:
        import matplotlib
    except ImportError:
        raise ValueError(
            "the accuracy figure needs matplotlib: pip install 'robe-serve[bench]'"
        ) from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for model, marker in MARKERS.items():
        done = [c for c in result["cases"] if c["model"] == model and "skipped" not in c]
        if done:
            ax.plot(
                [c["embedding_bytes"] for c in done],
                [c["auc"] for c in done],
                marker=marker,
                linestyle="-" if len(done) > 1 else "none",
                label=model,
            )
        for c in result["cases"]:
            if c["model"] == model and "skipped" in c:
                ax.axvline(c["embedding_bytes"], linestyle="--", color="grey")
                ax.annotate(
                    f"{model} skipped",
                    (c["embedding_bytes"], 0.02),
                    xycoords=("data", "axes fraction"),
                    rotation=90,
                    ha="right",
                    fontsize=8,
                )
    ax.set_xscale("log")
    ax.set_xlabel("embedding (or weight) bytes")
    ax.set_ylabel("test AUC")
    ax.set_title(f"robe bench accuracy: {Path(result['data']).name}")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

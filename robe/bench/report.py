"""Markdown tables from benchmark JSON, so that bench/README.md quotes no hand-typed number."""

from __future__ import annotations

from typing import Any

from robe.bench.accuracy_report import accuracy_table
from robe.bench.names import EXTRA_IMPLS, IMPLS, PLAIN_IMPLS


def _rate(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def _key(case: dict[str, Any]) -> tuple[Any, ...]:
    return (case["device"], case["shape"], case["dim"], case["pass"], case["batch"], case["ids"])


def ratio(
    cases: list[dict[str, Any]], impl: str = "robe-fused", rate: str = "lookups_per_s"
) -> float | None:
    """`rate` of `impl` over the best plain-table impl's among `cases` (one setting)."""
    mine = [c[rate] for c in cases if c["impl"] == impl and rate in c]
    plain = [c[rate] for c in cases if c["impl"] in PLAIN_IMPLS and rate in c]
    if not mine or not plain:
        return None
    return float(mine[0] / max(plain))


def lookup_table(result: dict[str, Any]) -> str:
    """One row per setting: lookups/s of every impl and robe-fused / best plain."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for case in result["cases"]:
        groups.setdefault(_key(case), []).append(case)
    present = [i for i in IMPLS + EXTRA_IMPLS if any(c["impl"] == i for c in result["cases"])]
    head = [
        "device",
        "shape",
        "dim",
        "pass",
        "batch",
        "ids",
        *present,
        "fused / best plain",
        "same, by CPU time",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for key, cases in groups.items():
        by_impl = {c["impl"]: c["lookups_per_s"] for c in cases}
        cells = [str(k) for k in key] + [
            _rate(by_impl[i]) if i in by_impl else "-" for i in present
        ]
        r = ratio(cases)
        cells.append("-" if r is None else f"**{r:.2f}x**")
        r_cpu = ratio(cases, rate="lookups_per_cpu_s")
        cells.append("-" if r_cpu is None else f"{r_cpu:.2f}x")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def model_table(result: dict[str, Any]) -> str:
    """One row per preset, runtime, precision and embedding; ratios within the same run:
    against fp32 of the same runtime, and ROBE against plain tables at the same precision."""
    head = ["preset", "device", "runtime", "precision", "embedding", "embedding bytes"]
    head += ["rows/s", "vs fp32", "robe / full", "auc_delta"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]

    def key(c: dict[str, Any], **changes: str) -> tuple[Any, ...]:
        c = c | changes
        fields = ("preset", "device", "runtime", "precision", "embedding")
        return tuple(c.get(f, "fp32" if f == "precision" else None) for f in fields)

    rates = {key(c): c.get("rows_per_s") for c in result["cases"]}
    for c in result["cases"]:
        rate = c.get("rows_per_s")
        full = rates.get(key(c, embedding="full"))
        fp32 = rates.get(key(c, precision="fp32"))
        rel = f"{rate / full:.2f}x" if c["embedding"] == "robe" and rate and full else ""
        vs = f"{rate / fp32:.2f}x" if c.get("precision", "fp32") != "fp32" and rate and fp32 else ""
        if rate:
            shown = _rate(rate)
        elif "skipped" in c:
            shown = f"skipped: {c['skipped'][:70]}"
        else:
            shown = f"error: {c.get('error', '?')[:60]}"
        size = f"{c['embedding_bytes'] / 1e6:.1f} MB" if "embedding_bytes" in c else ""
        delta = f"{c['auc_delta']:+.5f}" if c.get("auc_delta") is not None else ""
        lines.append(
            f"| {c.get('preset', '')} | {c['device']} | {c.get('runtime', '')} | "
            f"{c.get('precision', 'fp32')} | {c['embedding']} | {size} | {shown} | {vs} | "
            f"{rel} | {delta} |"
        )
    return "\n".join(lines)


def render(result: dict[str, Any]) -> str:
    """The table for a lookup, model or accuracy result, with the machine it ran on."""
    if result.get("benchmark") == "accuracy":
        return accuracy_table(result)
    machine = result.get("machine", {}).get("description", "unknown machine")
    is_model = bool(result["cases"]) and "embedding" in result["cases"][0]
    table = model_table(result) if is_model else lookup_table(result)
    extra = ""
    if not is_model:
        for shape in result.get("shapes", []):
            if "plain_tables_capped_at_rows" in shape:
                extra += (
                    f"\n{shape['shape']}: plain tables capped at "
                    f"{shape['plain_tables_capped_at_rows']:,} rows per table "
                    f"({shape['plain_bytes_measured'] / 2**30:.1f} GiB of "
                    f"{shape['full_plain_bytes'] / 2**30:.1f} GiB).\n"
                )
        for impl, why in result.get("skipped", {}).items():
            extra += f"\n{impl} skipped: {why[:200]}\n"
    return f"Machine: {machine}\n\n{table}\n{extra}"


START_MARKER = "<!-- results:start (robe bench table --update) -->"
END_MARKER = "<!-- results:end -->"


def replace_between_markers(
    document: str, text: str, start_marker: str = START_MARKER, end_marker: str = END_MARKER
) -> str:
    """`document` with what lies between the two markers replaced by `text`."""
    start, end = document.find(start_marker), document.find(end_marker)
    if start < 0 or end < start:
        raise ValueError(f"no {start_marker} ... {end_marker} section to update")
    head = document[: start + len(start_marker)]
    return f"{head}\n{text.strip()}\n{document[end:]}"

"""The `robe bench service` section of a README: machine, ceilings and every case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robe.bench.report import replace_between_markers

BEGIN, END = "<!-- bench-service:begin -->", "<!-- bench-service:end -->"
# a run with the peers has a section of its own: it leaves the service table as it is
PEERS_BEGIN, PEERS_END = "<!-- bench-peers:begin -->", "<!-- bench-peers:end -->"


def table(result: dict[str, Any]) -> str:
    """The markdown between the README's markers: machine, ceilings, every case."""
    m = result["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['platform']}, torch {m.get('torch')}, "
        f"onnxruntime {m['onnxruntime']}, load average {m['load_average_at_start']} at the "
        f"start (the machine is shared). {result['candidates']} candidates per request, "
        f"{result['seconds_per_case']} s per case, batches of up to "
        f"{result['max_batch_rows']} rows / {result['max_wait_ms']} ms.",
        "",
        f"Floor (HTTP + validation alone): {result['floor_rps']:.0f} rps. "
        + "; ".join(
            f"{name}: model alone {max(v.values()):.0f} rps, "
            f"limit {result['limit_rps'][name]:.0f} rps"
            for name, v in result["model_rps"].items()
        ),
        "",
        "| model | runtime | batching | concurrency | rps | p50 ms | p95 ms | p99 ms "
        "| mean batch rows | server CPU ms/request |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in result["cases"]:
        lines.append(
            f"| {c['model']} | {c['runtime']} | {'on' if c['batching'] else 'off'} | "
            f"{c['concurrency']} | {c['rps']:.1f} | {c['p50_ms']:.2f} | {c['p95_ms']:.2f} | "
            f"{c['p99_ms']:.2f} | {c['mean_batch_rows']:.1f} | "
            f"{c.get('server_cpu_ms', 0.0):.2f} |"
        )
    if "peers" in result:
        lines += ["", *peers_table(result["peers"])]
    return "\n".join(lines)


def peers_table(peers: dict[str, Any]) -> list[str]:
    """robe serve beside the peers at each concurrency (the peers' median rounds)."""
    names = [n for n in ("peer-fastapi", "peer-ray-serve") if any(n in r for r in peers["rows"])]
    lines = [
        f"Peers on the same artifact and requests ({peers['model']}, robe serve on "
        f"{peers['runtime']} with batching): requests/s (p99 ms) and robe serve's ratio.",
        "",
        "| concurrency | robe serve | " + " | ".join(f"{n} | robe / {n}" for n in names) + " |",
        "| ---: | ---: | " + " | ".join("---: | ---:" for _ in names) + " |",
    ]
    for r in peers["rows"]:
        cells = [f"{r['concurrency']}", f"{r['robe_rps']:.1f} ({r['robe_p99_ms']:.1f})"]
        for n in names:
            p = r.get(n)
            if p is None:
                cells += ["-", "-"]
                continue
            ratio = f"{p['robe_over']:.2f}x" if p["robe_over"] is not None else "-"
            cells += [f"{p['rps']:.1f} ({p['p99_ms']:.1f})", ratio]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_table(readme: Path, result: dict[str, Any]) -> None:
    """Rewrite the table between the markers, or add a section with them at the end."""
    text = readme.read_text() if readme.exists() else "# Benchmarks\n"
    begin, end, title = (BEGIN, END, "Service (`robe bench service`)")
    if "peers" in result:
        begin, end, title = (PEERS_BEGIN, PEERS_END, "Peers (`robe bench service --peers`)")
    if begin in text and end in text:
        text = replace_between_markers(text, table(result), begin, end)
    else:
        block = f"{begin}\n{table(result)}\n{end}"
        text = text.rstrip("\n") + f"\n\n## {title}\n\n" + block + "\n"
    readme.parent.mkdir(parents=True, exist_ok=True)
    readme.write_text(text)

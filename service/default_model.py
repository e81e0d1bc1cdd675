"""Build the default model that `make run` serves, if it is not there yet.

    python -m service.default_model [--root models/default] [--rows N] [--full]

Synthetic Criteo-Kaggle-shaped data (`robe data synth`), a ROBE model trained on it
(`robe train --embedding robe --compression 1000`), exported to ONNX and TorchScript
(`robe export`) into ROOT/robe; with --full, the plain-table baseline into ROOT/full.
Both carry the `--precision` variants (default fp32 and int8) with their accuracy guard
(`--verify`), so `robe serve` serves each at its fastest verified precision.
Each step shows its progress and is skipped when its output exists.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path


def _robe(*args: str) -> list[str]:
    return [sys.executable, "-m", "robe.cli.main", *args]


def _step(title: str, cmd: list[str], done: Path) -> None:
    if done.exists():
        print(f"[default model] {title}: already there ({done})", flush=True)
        return
    print(f"[default model] {title} ...\n  $ robe {' '.join(cmd[3:])}", flush=True)
    t0 = time.perf_counter()
    result = subprocess.run(cmd, check=False)
    if result.returncode != 0:
        print(f"[default model] {title} failed (exit {result.returncode})", file=sys.stderr)
        sys.exit(result.returncode)
    print(f"[default model] {title}: done in {time.perf_counter() - t0:.0f} s", flush=True)


def build(root: Path, rows: int, full: bool, formats: str, precision: str) -> None:
    data = root / "data"
    _step(
        f"synthetic data ({rows:,} rows)",
        _robe(
            "data",
            "synth",
            "--schema",
            "criteo-kaggle",
            "--rows",
            str(rows),
            "--seed",
            "0",
            "--out",
            str(data),
        ),
        data / "stats.json",
    )
    # The plain-table baseline (2.2 GB of tables) trains on a tenth of the rows: it is
    # there to compare serving cost; `robe train` on all rows compares accuracy.
    kinds = [("robe", ["--compression", "1000"])]
    if full:
        kinds.append(("full", ["--val-fraction", "0.9"]))
    for kind, extra in kinds:
        run = root / f"run-{kind}"
        _step(
            f"train {kind}",
            _robe(
                "train",
                "--data",
                str(data),
                "--embedding",
                kind,
                *extra,
                "--preset",
                "kaggle",
                "--epochs",
                "1",
                "--out",
                str(run),
            ),
            run / "metrics.json",
        )
        if not (run / "items.jsonl").exists():  # the eager runtime serves runs with it
            shutil.copy(data / "items.jsonl", run / "items.jsonl")
        _step(
            f"export {kind} ({formats}; {precision})",
            _robe(
                "export",
                "--checkpoint",
                str(run),
                "--out",
                str(root / kind),
                "--formats",
                formats,
                *(["--precision", precision, "--verify"] if precision != "fp32" else []),
            ),
            root / kind / "manifest.json",
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service.default_model",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--root", type=Path, default=Path("models/default"))
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--full", action="store_true", help="also the plain-table baseline")
    parser.add_argument("--formats", default="onnx,torchscript")
    parser.add_argument(
        "--precision", default="fp32,int8", help="precisions to export (robe export --precision)"
    )
    args = parser.parse_args()
    build(args.root, args.rows, args.full, args.formats, args.precision)
    return 0


if __name__ == "__main__":
    sys.exit(main())

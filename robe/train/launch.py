"""`robe train --nproc N`: the same command re-run under torchrun on this machine."""

from __future__ import annotations

import subprocess
import sys

PLAIN_UNDER_DDP = (
    "plain tables (--embedding full) cannot train under torchrun (sparse gradients); "
    "use --embedding robe, or train plain tables in one process"
)


def without_nproc(argv: list[str]) -> list[str]:
    """`argv` with its `--nproc N` / `--nproc=N` removed."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def launch(nproc: int, argv: list[str]) -> int:
    """Run `robe ARGV` (less --nproc) as `nproc` data-parallel processes; their exit code."""
    if nproc < 1:
        raise ValueError(f"--nproc must be >= 1, got {nproc}")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "robe.cli.main",
        *without_nproc(argv),
    ]
    return subprocess.call(command)

"""`python -m service --model ...`: the same as `robe serve` (used by benchmarks)."""

from __future__ import annotations

import argparse
import sys

from robe.cli.serve import register
from robe.errors import RobeError


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m service")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(["serve", *sys.argv[1:]])
    try:
        return int(args.handler(args))
    except RobeError as exc:
        print(f"robe serve: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""`python -m service --model ...`: the same as `robe serve` (used by benchmarks)."""

from __future__ import annotations

import argparse
import sys

from robe.errors import RobeError
from service.flags import add_arguments, settings_from_flags
from service.serve import serve


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m service")
    add_arguments(parser)
    args = parser.parse_args()
    try:
        return serve(settings_from_flags(vars(args)))
    except RobeError as exc:
        print(f"robe serve: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

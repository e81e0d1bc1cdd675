"""The `robe` console script: one parser, subcommands registered by their modules."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from robe.errors import RobeError

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    from robe.cli import bench, data, export, loadtest, serve, train

    parser = argparse.ArgumentParser(prog="robe", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (data, train, export, serve, bench, loadtest):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except (RobeError, ValueError, FileNotFoundError) as exc:
        print(f"robe {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader of our output went away (`robe ... | head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"robe {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

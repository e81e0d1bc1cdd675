"""Print the requirements of pyproject.toml for some extras, one per line (pip -r format).

The Dockerfile installs these in their own layer before the project's wheel, so a code
change reuses the cached dependency layer. `--variant cuda` swaps onnxruntime for the
onnxruntime-gpu pin of the `gpu` extra (both install the same module; only one may be
present). `--only NAME` keeps one requirement and `--without NAME` drops one: torch is
installed on its own, from the CPU wheel index.
Usage: python deploy/requirements.py PYPROJECT EXTRA... [--variant cpu|cuda]
       [--only NAME | --without NAME...]
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path


def requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()  # PEP 503 normalised


def requirements(
    pyproject: Path,
    extras: list[str],
    variant: str = "cpu",
    only: str | None = None,
    without: tuple[str, ...] = (),
) -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})
    unknown = [e for e in extras if e not in optional]
    if unknown:
        raise ValueError(f"unknown extras {unknown}: pyproject has {sorted(optional)}")
    out: dict[str, str] = {}
    for requirement in [
        *project.get("dependencies", []),
        *(r for e in extras for r in optional[e]),
    ]:
        out.setdefault(requirement_name(requirement), requirement)
    if variant == "cuda" and "onnxruntime" in out:
        gpu_pins = {requirement_name(r): r for r in optional.get("gpu", [])}
        out.pop("onnxruntime")
        out["onnxruntime-gpu"] = gpu_pins.get("onnxruntime-gpu", "onnxruntime-gpu")
    if only is not None:
        if only.lower() not in out:
            raise ValueError(f"{only!r} is not required by {['base', *extras]}")
        return [out[only.lower()]]
    for name in without:
        out.pop(name.lower(), None)
    return list(out.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pyproject", type=Path)
    parser.add_argument("extras", nargs="*")
    parser.add_argument("--variant", choices=["cpu", "cuda"], default="cpu")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--only")
    choice.add_argument("--without", action="append", default=[])
    args = parser.parse_args(argv)
    try:
        lines = requirements(
            args.pyproject, args.extras, args.variant, args.only, tuple(args.without)
        )
    except (OSError, ValueError, KeyError) as exc:
        print(f"requirements: error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

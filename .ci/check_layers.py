#!/usr/bin/env python3
"""What import-linter cannot check about its own layers contract (run by `make lint`).

1. Every exception to a contract (an `ignore_imports` entry) is justified: it has a
   non-empty reason under [tool.robe.layer-exceptions] in pyproject.toml, and every
   reason there names an exception that exists. Removing a reason fails lint.
2. The bottom layer, the robe library, lists every module and package of robe/ but
   the command line (robe.cli, the top layer): a module added to robe/ and not listed
   would be in no layer, and import-linter would not look at its imports.

Exit 0 when both hold; otherwise one line per problem on stderr and exit 1.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

CLI = "robe.cli"


def library_modules(root: Path) -> set[str]:
    """robe.X for every module and package directly in robe/, the command line excepted."""
    out = set()
    for path in (root / "robe").iterdir():
        if path.name.startswith(("_", ".")):
            continue
        if path.suffix == ".py" or (path.is_dir() and (path / "__init__.py").is_file()):
            out.add(f"robe.{path.stem}")
    return out - {CLI}


def layer_modules(layer: str) -> set[str]:
    """The modules of one layer entry: siblings are split by | or :."""
    return {m.strip() for m in layer.replace("|", ":").split(":") if m.strip()}


def problems(config: dict[str, Any], root: Path) -> list[str]:
    tool = config.get("tool", {})
    contracts = tool.get("importlinter", {}).get("contracts", [])
    reasons: dict[str, str] = tool.get("robe", {}).get("layer-exceptions", {})
    found: list[str] = []
    ignored: set[str] = set()
    for contract in contracts:
        for entry in contract.get("ignore_imports", []):
            ignored.add(entry)
            if not str(reasons.get(entry, "")).strip():
                found.append(
                    f"contract {contract.get('name')!r}: exception {entry!r} has no reason; "
                    "say why under [tool.robe.layer-exceptions] or remove the exception"
                )
    for entry in sorted(set(reasons) - ignored):
        found.append(f"[tool.robe.layer-exceptions] {entry!r}: no such exception; remove it")
    layered = [c for c in contracts if c.get("type") == "layers" and CLI in c.get("layers", [])]
    if len(layered) != 1:
        found.append(f"expected one layers contract with {CLI} on top, found {len(layered)}")
        return found
    listed = layer_modules(layered[0]["layers"][-1])
    wanted = library_modules(root)
    for module in sorted(wanted - listed):
        found.append(f"{module} is in no layer: add it to the library layer (the last one)")
    for module in sorted(listed - wanted):
        found.append(f"{module} is listed in the library layer but is not in robe/")
    return found


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    with (root / "pyproject.toml").open("rb") as fh:
        config = tomllib.load(fh)
    found = problems(config, root)
    for line in found:
        print(f"check_layers: {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

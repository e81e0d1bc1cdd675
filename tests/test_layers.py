"""The layers contract's own checks (.ci/check_layers.py, run by `make lint`)."""

from __future__ import annotations

import copy
import importlib.util
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_layers", ROOT / ".ci" / "check_layers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        return tomllib.load(fh)


def contract(config: dict[str, Any]) -> dict[str, Any]:
    return config["tool"]["importlinter"]["contracts"][0]


def test_the_project_passes(check: ModuleType, config: dict[str, Any]) -> None:
    assert check.problems(config, ROOT) == []
    assert contract(config)["layers"][:4] == ["robe.cli", "loadtest", "service", "model_export"]


def test_an_exception_without_a_reason_fails(check: ModuleType, config: dict[str, Any]) -> None:
    edited = copy.deepcopy(config)
    contract(edited)["ignore_imports"] = ["robe.hashing -> service.errors"]
    edited["tool"]["robe"]["layer-exceptions"] = {"robe.hashing -> service.errors": "a reason"}
    assert check.problems(edited, ROOT) == []
    edited["tool"]["robe"]["layer-exceptions"] = {}  # the reason removed
    (line,) = check.problems(edited, ROOT)
    assert "'robe.hashing -> service.errors' has no reason" in line
    edited["tool"]["robe"]["layer-exceptions"] = {"robe.hashing -> service.errors": " "}
    assert len(check.problems(edited, ROOT)) == 1


def test_a_reason_without_an_exception_fails(check: ModuleType, config: dict[str, Any]) -> None:
    edited = copy.deepcopy(config)
    edited["tool"]["robe"]["layer-exceptions"] = {"robe.keys -> service": "stale"}
    (line,) = check.problems(edited, ROOT)
    assert "no such exception" in line


def test_a_library_module_in_no_layer_fails(
    check: ModuleType, config: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "robe" / "cli").mkdir(parents=True)
    (tmp_path / "robe" / "cli" / "__init__.py").write_text("")
    for name in ("__init__.py", "keys.py", "fresh.py"):
        (tmp_path / "robe" / name).write_text("")
    edited = copy.deepcopy(config)
    contract(edited)["layers"][-1] = "robe.keys : robe.gone"
    assert sorted(check.problems(edited, tmp_path)) == [
        "robe.fresh is in no layer: add it to the library layer (the last one)",
        "robe.gone is listed in the library layer but is not in robe/",
    ]

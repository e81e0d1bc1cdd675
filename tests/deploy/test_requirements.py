"""deploy/requirements.py: what each image stage installs, read from pyproject.toml."""

from __future__ import annotations

import pytest

from deploy.requirements import main, requirement_name, requirements
from tests.deploy.container import REPO

PYPROJECT = REPO / "pyproject.toml"


def names(lines: list[str]) -> set[str]:
    return {requirement_name(line) for line in lines}


def test_serving_requirements_have_onnxruntime_and_no_torch() -> None:
    serve = names(requirements(PYPROJECT, ["serve"]))
    assert {"numpy", "fastapi", "uvicorn", "onnxruntime", "prometheus-client"} <= serve
    assert not serve & {"torch", "triton", "onnxruntime-gpu"}


def test_cuda_variant_swaps_onnxruntime_for_the_gpu_build() -> None:
    cuda = requirements(PYPROJECT, ["serve"], variant="cuda")
    assert "onnxruntime" not in names(cuda)
    gpu_pin = next(r for r in cuda if requirement_name(r) == "onnxruntime-gpu")
    assert gpu_pin in requirements(PYPROJECT, ["gpu"])  # the gpu extra's own pin
    assert "torch" not in names(cuda)


def test_torch_is_installed_alone_with_its_pin() -> None:
    assert requirements(PYPROJECT, ["train"], only="torch") == ["torch==2.13.0"]
    rest = names(requirements(PYPROJECT, ["train", "export"], without=("torch",)))
    assert "torch" not in rest
    assert {"safetensors", "onnx", "onnxscript", "onnxruntime"} <= rest


def test_unknown_extra_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(PYPROJECT), "servee"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "servee" in err

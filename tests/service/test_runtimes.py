"""Runtimes on real exported artifacts: ONNX Runtime and TorchScript agree with eager."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.app import build_app
from service.errors import ModelLoadError
from service.models import load_model
from service.settings import Settings
from tests.service.conftest import item_id

USER = {"I1": 7, "C1": "0badcafe", "C3": 4}


def test_onnx_and_torchscript_match_eager(
    small_run: Path, onnx_artifact: Path, torchscript_artifact: Path
) -> None:
    models = [
        load_model("", str(onnx_artifact), "onnx", "cpu", 1),
        load_model("", str(torchscript_artifact), "torchscript", "cpu", 1),
        load_model("", str(small_run), "eager", "cpu", 1),
    ]
    assert [m.runtime.backend for m in models] == ["onnx", "torchscript", "eager"]
    assert models[0].name == "robe-onnx" and models[0].version != "checkpoint"
    cat = models[0].catalog
    scores = [m.runtime.predict(cat.dense, cat.keys) for m in models]
    np.testing.assert_allclose(scores[0], scores[2], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(scores[1], scores[2], rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def two_runtimes(onnx_artifact: Path, torchscript_artifact: Path) -> Iterator[TestClient]:
    settings = Settings(models=[f"onnx={onnx_artifact}", f"ts={torchscript_artifact}"])
    with TestClient(build_app(settings)) as client:
        yield client


def test_same_top_k_over_http(two_runtimes: TestClient) -> None:
    models = {m["name"]: m for m in two_runtimes.get("/v1/models").json()["models"]}
    assert models["onnx"]["backend"] == "onnx" and models["ts"]["backend"] == "torchscript"
    assert models["onnx"]["precision"] == models["ts"]["precision"] == "fp32"  # none other carried
    for user in (USER, {}, {"I1": 0, "C1": 12345}):
        tops = [
            two_runtimes.post("/recommend", json={"user": user, "k": 20, "model": m}).json()
            for m in ("onnx", "ts")
        ]
        ids = [[i["item_id"] for i in t["items"]] for t in tops]
        assert ids[0] == ids[1]
        np.testing.assert_allclose(
            [i["score"] for i in tops[0]["items"]],
            [i["score"] for i in tops[1]["items"]],
            rtol=1e-5,
        )
    cands = [item_id(i) for i in (9, 1, 4)]
    r = two_runtimes.post("/recommend", json={"user": USER, "candidates": cands, "model": "ts"})
    assert r.status_code == 200 and r.json()["scored"] == 3


def test_damaged_artifact_is_refused(onnx_artifact: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "bad"
    shutil.copytree(onnx_artifact, copy)
    with (copy / "model.onnx").open("ab") as fh:
        fh.write(b"junk")
    with pytest.raises(ModelLoadError, match="sha256"):
        load_model("", str(copy), "auto", "cpu", 1)
    with pytest.raises(ModelLoadError, match="no 'torchscript' format"):
        load_model("", str(onnx_artifact), "torchscript", "cpu", 1)


def test_onnx_runtime_needs_no_torch(onnx_artifact: Path) -> None:
    """The ONNX serving path, app included, runs with torch made unimportable."""
    code = f"""
import sys
sys.modules["torch"] = None  # any import of torch now fails
from fastapi.testclient import TestClient
from service.app import build_app
from service.settings import Settings
app = build_app(Settings(models=["{onnx_artifact}"], backend="onnx", device="auto"))
with TestClient(app) as c:
    r = c.post("/recommend", json={{"user": {{"I1": 1}}, "k": 3}})
    assert r.status_code == 200, r.text
    print(r.json()["model"], c.get("/v1/models").json()["models"][0]["device"])
"""
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["robe-onnx", "cpu"]


def test_device_auto_asks_torch_only_where_a_gpu_driver_is(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without a driver's device node no torch build sees a GPU, so a CPU server does
    not pay torch's import; with one, torch decides."""
    import torch

    from service.runtimes import base

    asked: list[bool] = []

    def torch_says() -> bool:
        asked.append(True)
        return True

    monkeypatch.setattr(torch.cuda, "is_available", torch_says)
    monkeypatch.setattr(base, "GPU_DRIVER_NODES", (str(tmp_path / "nvidiactl"),))
    assert (base.resolve_device("auto"), asked) == ("cpu", [])
    (tmp_path / "nvidiactl").touch()
    assert (base.resolve_device("auto"), asked) == ("cuda", [True])

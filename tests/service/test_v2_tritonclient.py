"""Triton's own HTTP client (`tritonclient[http]` from PyPI, unchanged) against a live
`robe serve`: readiness, model metadata and inference, binary and JSON tensors, with
scores equal to /score's for the same rows."""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient

from tests.deploy.container import Command, free_port, running
from tests.service.test_v2 import DENSE, ROWS, SPARSE, dense_of, sparse_of


@pytest.fixture(scope="module")
def port(onnx_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    robe = str(Path(sys.executable).with_name("robe"))
    argv = [robe, "serve", "--model", f"ctr={onnx_artifact}", "--port", str(port)]
    logs = tmp_path_factory.mktemp("v2-serve")
    with running(Command(argv, dict(os.environ), port), logs / "server.log", logs):
        yield port


def scores_from_score(port: int) -> np.ndarray:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/score",
        data=json.dumps({"rows": ROWS}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return np.array(json.loads(r.read())["scores"])


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_infers_what_score_scores(port: int, binary: bool) -> None:
    client = httpclient.InferenceServerClient(url=f"127.0.0.1:{port}")
    try:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready("ctr")
        meta = client.get_model_metadata("ctr")
        assert [(t["name"], t["datatype"], t["shape"]) for t in meta["inputs"]] == [
            ("dense", "FP32", [-1, len(DENSE)]),
            ("sparse", "BYTES", [-1, len(SPARSE)]),
        ]
        dense = dense_of(ROWS)
        if not binary:  # JSON cannot carry NaN; log1p maps missing and 0 alike
            dense = np.nan_to_num(dense)
        sparse = np.array(sparse_of(ROWS), dtype=np.object_).reshape(len(ROWS), len(SPARSE))
        inputs = [
            httpclient.InferInput("dense", list(dense.shape), "FP32"),
            httpclient.InferInput("sparse", list(sparse.shape), "BYTES"),
        ]
        inputs[0].set_data_from_numpy(dense, binary_data=binary)
        inputs[1].set_data_from_numpy(sparse, binary_data=binary)
        outputs = [httpclient.InferRequestedOutput("score", binary_data=binary)]
        result = client.infer("ctr", inputs, outputs=outputs, request_id="r1")
        got = result.as_numpy("score")
        assert got.dtype == np.float32
        assert got.shape == (len(ROWS),)
        np.testing.assert_allclose(got, scores_from_score(port), rtol=0, atol=1e-6)
        # no outputs named: tritonclient asks for binary outputs of everything
        default = client.infer("ctr", inputs).as_numpy("score")
        np.testing.assert_allclose(default, got, rtol=0, atol=0)
        with pytest.raises(Exception, match="is not loaded"):
            client.get_model_metadata("nope")
    finally:
        client.close()

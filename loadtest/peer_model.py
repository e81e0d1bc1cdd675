"""What the peers of `robe bench service --peers` serve: one artifact's ONNX model.

A peer differs from `robe serve` in its serving stack only. It runs the ONNX file
`robe serve` would pick (the same precision choice), opened by model_export's one
loader with the service's thread settings, and builds its rows with the service's
own encoding (service.rows.FeatureLayout, the catalog of service.catalog read through
robe.catalog) and top-k: the same request gives the same scores, and its encoding
costs the same.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from model_export.loaders import onnx_session
from model_export.manifest import load_manifest
from model_export.precision import choose_precision, variant_entry
from robe.errors import RobeError
from service.catalog import Catalog
from service.errors import InvalidInput
from service.routes import top_k
from service.rows import Dense, FeatureLayout, Keys, model_inputs
from service.runtimes.base import Scores
from service.schemas import RecommendRequest

Index = npt.NDArray[np.int64]


@dataclass(frozen=True)
class PeerModel:
    name: str
    version: str
    layout: FeatureLayout
    catalog: Catalog
    session: Any  # onnxruntime.InferenceSession

    @classmethod
    def load(cls, artifact: Path, threads: int, name: str = "") -> PeerModel:
        manifest = load_manifest(artifact)
        if not manifest.has_format("onnx"):
            raise RobeError(f"{artifact}: no onnx format in the artifact (a peer runs ONNX)")
        entry = manifest.formats["onnx"]
        precision, _ = choose_precision("onnx", entry, manifest.verify, "auto")
        file = artifact / variant_entry(entry, precision)["file"]
        layout = FeatureLayout.of(manifest.schema)
        path = manifest.catalog_path
        return cls(
            name=name or manifest.name,
            version=manifest.version,
            layout=layout,
            catalog=Catalog.load(path, layout) if path else Catalog.empty(layout),
            # as robe serve opens it: no busy-waiting pool between runs
            session=onnx_session(file, threads=threads, spinning=False),
        )

    def rows(self, req: RecommendRequest) -> tuple[Dense, Keys, Index]:
        """The request's candidate rows and their catalog indices; InvalidInput if bad."""
        if req.exclude:
            raise InvalidInput("exclude: not supported by the peers")
        if req.candidates is not None:
            index = self.catalog.resolve([str(c) for c in req.candidates])
        else:
            index = np.arange(len(self.catalog))
        user_dense, user_keys = self.layout.encode(req.user, ("user", "context"), "user")
        dense, keys = self.layout.recommend_rows(
            user_dense, user_keys, self.catalog.dense[index], self.catalog.keys[index]
        )
        return dense, keys, index

    def score(self, dense: Dense, keys: Keys) -> Scores:
        """One ONNX Runtime run over any number of rows."""
        d, values, offsets = model_inputs(dense, keys, self.layout.schema.key_widths)
        feeds = {"dense": d, "values": values, "offsets": offsets}
        (out,) = self.session.run(None, feeds)
        return np.asarray(out, dtype=np.float32).reshape(-1)

    def answer(self, index: Index, scores: Scores, k: int) -> dict[str, Any]:
        """The /recommend response body, as robe serve writes it."""
        best = top_k(scores, k)
        ids = self.catalog.ids[index[best]].tolist()
        top = scores[best].tolist()
        return {
            "model": self.name,
            "model_version": self.version,
            "items": [{"item_id": i, "score": s} for i, s in zip(ids, top, strict=True)],
            "scored": int(scores.shape[0]),
        }


def peer_arguments(description: str | None) -> argparse.ArgumentParser:
    """The command line every peer process takes (loadtest.server starts it so)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--artifact", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", default="", help="the model name it answers as")
    return parser

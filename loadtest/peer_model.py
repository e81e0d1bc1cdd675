"""What the peers of `robe bench service --peers` serve: one artifact's ONNX model.

A peer differs from `robe serve` in its serving stack only. It loads the artifact as
`robe serve` does (service.models.load_model: the ONNX file and precision it would
pick, the service's thread settings), and builds its rows with the service's
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

from robe.errors import RobeError
from service.catalog import Catalog
from service.errors import InvalidInput, ModelLoadError
from service.models import ServedModel, load_model
from service.routes import top_k
from service.rows import Dense, FeatureLayout, Keys
from service.runtimes.base import Scores
from service.schemas import RecommendRequest

Index = npt.NDArray[np.int64]


@dataclass(frozen=True)
class PeerModel:
    served: ServedModel  # robe serve's own load: format, precision, layout, catalog

    @classmethod
    def load(cls, artifact: Path, threads: int, name: str = "") -> PeerModel:
        try:
            served = load_model(name, str(artifact), "onnx", "cpu", threads, "auto")
        except ModelLoadError as exc:
            raise RobeError(str(exc)) from exc
        return cls(served)

    @property
    def name(self) -> str:
        return self.served.name

    @property
    def layout(self) -> FeatureLayout:
        return self.served.layout

    @property
    def catalog(self) -> Catalog:
        return self.served.catalog

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
        return self.served.runtime.predict(dense, keys)

    def answer(self, index: Index, scores: Scores, k: int) -> dict[str, Any]:
        """The /recommend response body, as robe serve writes it."""
        best = top_k(scores, k)
        ids = self.catalog.ids[index[best]].tolist()
        top = scores[best].tolist()
        return {
            "model": self.name,
            "model_version": self.served.version,
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

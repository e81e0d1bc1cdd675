"""The Ray Serve peer: one replica, `@serve.batch` around an ONNX Runtime session.

Ray Serve as its documentation has it: an HTTP proxy in front of a deployment whose
`__call__` parses and encodes the request, then awaits a `@serve.batch` method that
scores the queued requests' rows in one ONNX Runtime run. The batch is bounded in rows
as robe serve's is (`batch_size_fn` counts rows) and waits as long (`--max-wait-ms`).
Ray runs a local cluster of its own (GCS, raylet, controller, proxy, replica) inside
this process's tree: `python -m loadtest.peer_ray --artifact A --port P`; SIGTERM
shuts Ray down.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from loadtest.peer_model import PeerModel, peer_arguments
from service.bodies import describe_validation
from service.errors import InvalidInput, error_body
from service.rows import Dense, Keys
from service.runtimes.base import Scores
from service.schemas import RecommendRequest

Rows = tuple[Dense, Keys]


def _rows_in(batch: list[Rows]) -> int:
    return sum(int(d.shape[0]) for d, _ in batch)


def deployment(max_batch_rows: int, max_wait_s: float, max_ongoing: int) -> Any:
    """The deployment class, its batch limits bound (they are decorator arguments)."""
    from ray import serve
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    @serve.deployment(
        max_ongoing_requests=max_ongoing,
        # the replica's CPU is not reserved: Ray would otherwise refuse to place it
        # beside its proxy and controller on a two-core machine
        ray_actor_options={"num_cpus": 0},
    )
    class Recommender:
        def __init__(self, artifact: str, threads: int, name: str) -> None:
            self.model = PeerModel.load(Path(artifact), threads, name)

        @serve.batch(
            max_batch_size=max_batch_rows,
            batch_wait_timeout_s=max_wait_s,
            batch_size_fn=_rows_in,
        )
        async def score(self, batch: list[Rows]) -> list[Scores]:
            dense = np.concatenate([d for d, _ in batch])
            keys = np.concatenate([k for _, k in batch])
            scores = self.model.score(dense, keys)
            cuts = np.cumsum([d.shape[0] for d, _ in batch])[:-1]
            return list(np.split(scores, cuts))

        async def __call__(self, request: Request) -> JSONResponse:
            if request.method == "GET":  # /readyz: the deployment is up
                return JSONResponse({"status": "ready"})
            try:
                req = RecommendRequest.model_validate_json(await request.body())
            except ValidationError as exc:
                message = describe_validation(exc)
                return JSONResponse(error_body(422, "invalid_input", message), status_code=422)
            try:
                dense, keys, index = self.model.rows(req)
            except InvalidInput as exc:
                return JSONResponse(error_body(422, exc.type, exc.message), status_code=422)
            scores = await self.score((dense, keys))
            return JSONResponse(self.model.answer(index, scores, req.k))

    return Recommender


def main(argv: list[str] | None = None) -> None:
    import ray
    from ray import serve

    from service.settings import Settings

    parser = peer_arguments(__doc__)
    parser.add_argument("--max-batch-rows", type=int, default=256)
    parser.add_argument("--max-wait-ms", type=float, default=0.0)
    parser.add_argument("--max-ongoing", type=int, default=256)
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no report home from a bench
    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": args.port})
        app = deployment(args.max_batch_rows, args.max_wait_ms / 1000, args.max_ongoing)
        serve.run(
            app.bind(str(args.artifact.resolve()), Settings().inference_threads(), args.name),
            route_prefix="/",
        )
        stop.wait()
    finally:
        serve.shutdown()  # type: ignore[no-untyped-call]
        ray.shutdown()


if __name__ == "__main__":
    main()

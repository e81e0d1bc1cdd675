"""The bare FastAPI peer: /recommend calls ONNX Runtime once per request, no batching.

What a user would write first: a plain (sync) FastAPI endpoint, which FastAPI runs in
its thread pool, scoring each request's rows as they come, under uvicorn as robe
serve runs. Run as its own process: `python -m loadtest.peer_fastapi --artifact A
--port P`.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from loadtest.peer_model import PeerModel, peer_arguments
from service.errors import InvalidInput, error_body
from service.schemas import RecommendRequest


def build_app(model: PeerModel) -> FastAPI:
    app = FastAPI()

    @app.exception_handler(InvalidInput)
    async def invalid(request: Request, exc: InvalidInput) -> JSONResponse:
        return JSONResponse(error_body(422, exc.type, exc.message), status_code=422)

    @app.get("/readyz")
    def readyz() -> dict[str, str]:
        return {"status": "ready"}

    @app.post("/recommend")
    def recommend(req: RecommendRequest) -> JSONResponse:
        dense, keys, index = model.rows(req)
        return JSONResponse(model.answer(index, model.score(dense, keys), req.k))

    return app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    from service.settings import Settings

    parser = peer_arguments(__doc__)
    args = parser.parse_args(argv)
    model = PeerModel.load(args.artifact, Settings().inference_threads(), args.name)
    uvicorn.run(
        build_app(model), host="127.0.0.1", port=args.port, log_level="warning", access_log=False
    )


if __name__ == "__main__":
    main()

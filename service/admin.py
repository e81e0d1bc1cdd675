"""The model repository API (Triton's), only when an admin token is set:

    POST /v2/repository/index                   every model known: name, version, state
    POST /v2/repository/models/{name}/load      {"parameters": {"path": ARTIFACT}} (the
                                                path may be left out to reload the last one)
    POST /v2/repository/models/{name}/unload

Every call needs `Authorization: Bearer TOKEN` (401 without, 403 with another token; the
comparison takes the same time whatever the token). Loads run one at a time and swap
the model in between batches (`service.repository`); a refused artifact is a 400 naming
the reason, and what served before keeps serving.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import FastAPI, Path, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from service.bodies import parse, read_body
from service.errors import (
    ArtifactRefused,
    Forbidden,
    ModelLoadError,
    ModelNotFound,
    NotReady,
    Unauthorized,
)
from service.repository import load, unload
from service.schemas import error_responses, inline_schema
from service.settings import MODEL_NAME, Settings
from service.state import ServiceState

REPOSITORY_ERRORS = error_responses(
    (400, "the artifact was refused (the message says why); the old model keeps serving"),
    (401, "no Bearer token"),
    (403, "wrong token"),
    (404, "unknown model"),
    (422, "invalid body or model name"),
    (503, "not ready (starting or draining)"),
)


ModelName = Annotated[str, Path(pattern=MODEL_NAME, description="the model's name")]
# Declares the scheme in the OpenAPI document; `authorize` answers 401/403 itself, in
# the service's error body (auto_error would answer FastAPI's own).
BEARER = HTTPBearer(
    scheme_name="adminToken", description="the admin token (--admin-token)", auto_error=False
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]


class LoadParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Annotated[StrictStr, Field(min_length=1)] | None = Field(
        None, description="artifact folder (or training run) on the server's disk"
    )


class LoadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parameters: LoadParameters = LoadParameters(path=None)


class RepositoryModel(BaseModel):
    name: str
    version: str
    state: str = Field(description="READY or UNAVAILABLE")
    reason: str = ""


def add_repository_routes(app: FastAPI, settings: Settings) -> None:
    if settings.admin_token is None:
        return
    expected = settings.admin_token.get_secret_value().encode()

    def authorize(request: Request, credentials: Credentials) -> ServiceState:
        given = credentials.credentials.strip() if credentials is not None else ""
        if not given:
            raise Unauthorized("the repository API needs 'Authorization: Bearer TOKEN'")
        if not hmac.compare_digest(given.encode(), expected):
            raise Forbidden("wrong admin token")
        state: ServiceState = request.app.state.service
        if not state.ready or state.draining:
            raise NotReady("draining" if state.draining else "models are still loading")
        return state

    @app.post(
        "/v2/repository/index",
        response_model=list[RepositoryModel],
        responses=REPOSITORY_ERRORS,
        summary="Models known to the repository, loaded or not",
    )
    async def index(request: Request, credentials: Credentials) -> list[RepositoryModel]:
        state = authorize(request, credentials)
        known = [
            RepositoryModel(name=n, version=m.version, state="READY")
            for n, m in state.models.items()
        ]
        known += [
            RepositoryModel(name=n, version="", state="UNAVAILABLE", reason=why)
            for n, why in state.unavailable.items()
            if n not in state.models
        ]
        return sorted(known, key=lambda r: r.name)

    @app.post(
        "/v2/repository/models/{name}/load",
        response_model=RepositoryModel,
        responses=REPOSITORY_ERRORS,
        summary="Load (or replace) a model; swapped in between batches",
        openapi_extra={
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": inline_schema(LoadRequest)}},
            }
        },
    )
    async def load_model(
        name: ModelName, request: Request, credentials: Credentials
    ) -> RepositoryModel:
        state = authorize(request, credentials)  # before the body: no token, no parsing
        raw = await read_body(request, settings.max_body_bytes)
        body = parse(LoadRequest, raw) if raw.strip() else LoadRequest()
        path = body.parameters.path or state.paths.get(name)
        if path is None:
            raise ModelNotFound(f"model {name!r} is unknown: give parameters.path")
        async with state.load_lock:
            try:
                model = await load(state, name, path)
            except ModelLoadError as exc:
                serving = state.models.get(name)
                still = f"; v{serving.version} keeps serving" if serving else ""
                raise ArtifactRefused(f"model {name!r}: {exc}{still}") from None
        return RepositoryModel(name=model.name, version=model.version, state="READY")

    @app.post(
        "/v2/repository/models/{name}/unload",
        response_model=RepositoryModel,
        responses=REPOSITORY_ERRORS,
        summary="Stop serving a model; requests already accepted finish",
    )
    async def unload_model(
        name: ModelName, request: Request, credentials: Credentials
    ) -> RepositoryModel:
        state = authorize(request, credentials)
        async with state.load_lock:
            if name not in state.models:
                raise ModelNotFound(f"model {name!r} is not loaded")
            await unload(state, name)
        return RepositoryModel(name=name, version="", state="UNAVAILABLE", reason="unloaded")

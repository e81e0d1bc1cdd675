"""The OpenAPI document, exact for the models being served.

The request bodies are generic pydantic models (features are checked against each
model's schema in `service.rows`), so FastAPI's own document would call valid requests
the server refuses. Once models are loaded, this narrows the `/recommend` and `/score`
bodies to what the server accepts: `model` one of the loaded names, `user` and `rows`
only the feature names of the model's schema (the right sides; no other properties),
values typed per feature, `k` and the row counts within the limits, and candidate ids
non-empty, unique and (for catalogs of up to `ENUM_LIMIT` items) from the catalog. When
the loaded models differ in their features, the feature names stay open (the document
cannot say which model a request names). The document is rebuilt when the loaded
models change (the repository API).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI

from robe.keys import INT64_MAX, INT64_MIN
from service.models import ServedModel
from service.settings import Settings

ENUM_LIMIT = 1000  # larger catalogs list no ids (the document would be mostly ids)

DENSE = {"anyOf": [{"type": "number"}, {"type": "null"}]}
SPARSE = {
    "anyOf": [
        {"type": "string"},
        {"type": "integer", "minimum": INT64_MIN, "maximum": INT64_MAX},
        {"type": "null"},
    ]
}


def install(app: FastAPI, settings: Settings) -> None:
    generic: Callable[[], dict[str, Any]] = app.openapi
    built: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        state = getattr(app.state, "service", None)
        models: Mapping[str, ServedModel] = state.models if state is not None else {}
        key = tuple((name, m.version) for name, m in models.items())
        if key not in built:
            doc = copy.deepcopy(generic())
            if models:
                narrow(doc, models, settings)
            built.clear()
            built[key] = doc
        return built[key]

    app.openapi = openapi  # type: ignore[method-assign]


def _features(model: ServedModel, sides: tuple[str, ...]) -> dict[str, Any]:
    schema = model.schema
    props: dict[str, Any] = {d.name: DENSE for d in schema.dense if d.side in sides}
    props.update({s.name: SPARSE for s in schema.sparse if s.side in sides})
    return {"type": "object", "properties": props, "additionalProperties": False}


def _body(doc: dict[str, Any], path: str) -> dict[str, Any]:
    body: dict[str, Any] = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    return body


def narrow(doc: dict[str, Any], models: Mapping[str, ServedModel], settings: Settings) -> None:
    names = list(models)
    layouts = {
        tuple((side, tuple(f)) for side, f in m.layout.features_by_side().items())
        for m in models.values()
    }
    one = next(iter(models.values())) if len(layouts) == 1 else None
    model_prop = {
        "anyOf": [{"type": "string", "enum": names}, {"type": "null"}],
        "description": "model name; the default model when absent",
    }

    rec = _body(doc, "/recommend")["properties"]
    rec["model"] = model_prop
    rec["k"] = {**rec["k"], "type": "integer", "minimum": 1, "maximum": settings.max_k}
    ids: dict[str, Any] = {"type": "string", "minLength": 1}
    catalogs = {tuple(m.catalog.ids.tolist()) for m in models.values()}
    if len(catalogs) == 1 and 0 < len(next(iter(catalogs))) <= ENUM_LIMIT:
        ids["enum"] = list(next(iter(catalogs)))
    rec["candidates"] = {
        "anyOf": [
            {
                "type": "array",
                "items": ids,
                "minItems": 1,
                "maxItems": settings.max_request_rows,
                "uniqueItems": True,
            },
            {"type": "null"},
        ],
        "description": rec["candidates"].get("description", ""),
    }
    score = _body(doc, "/score")["properties"]
    score["model"] = model_prop
    score["rows"] = {**score["rows"], "maxItems": settings.max_request_rows}
    if one is not None:
        user = {k: v for k, v in rec["user"].items() if k != "examples"}  # another schema's
        rec["user"] = {**user, **_features(one, ("user", "context"))}
        score["rows"]["items"] = _features(one, ("user", "item", "context"))

"""The OpenAPI document, exact for the models being served.

The request bodies are generic pydantic models (features are checked against each
model's schema in `service.rows`), so FastAPI's own document would call valid requests
the server refuses. Once models are loaded, this narrows the `/recommend` and `/score`
bodies to what the server accepts: `model` one of the loaded names, `user` and `rows`
only the feature names of the model's schema (the right sides; no other properties),
values typed per feature, `k` and the row counts within the limits, and candidate ids
non-empty, unique and (for catalogs of up to `ENUM_LIMIT` items) from the catalog. When
the loaded models differ in their features, the feature names stay open (the document
cannot say which model a request names). The Open Inference Protocol routes are
narrowed the same way (`service.openapi_v2`). The document is rebuilt when the loaded
models change (the repository API).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI

from robe.keys import INT64_MAX, INT64_MIN
from service.models import ServedModel
from service.openapi_v2 import narrow_v2
from service.schemas import FINITE_NUMBER
from service.settings import Settings

ENUM_LIMIT = 1000  # larger catalogs list no ids (the document would be mostly ids)

INT64 = {"type": "integer", "minimum": INT64_MIN + 1, "maximum": INT64_MAX}  # keys' range
NULL = {"type": "null"}


def _value_schema(kinds: set[str]) -> dict[str, Any]:
    """A field's JSON types: what every feature it feeds takes (a number for a dense or
    bucketized one; a string or an integer, or for a bag an array of them, for a
    categorical one; null for missing, always)."""
    allowed = {
        "number": {"number", "integer", "null"},
        "categorical": {"integer", "string", "null"},
        "categorical-bag": {"integer", "string", "array", "null"},
    }
    types = {"number", "integer", "string", "array", "null"}
    for kind in kinds:
        types &= allowed[kind]
    if "number" in types:
        types.discard("integer")  # a number already takes integers
    one = {
        "number": FINITE_NUMBER,
        "integer": INT64,
        "string": {"type": "string"},
        "array": {
            "type": "array",
            "items": {"anyOf": [{"type": "string"}, INT64, {"type": "null"}]},
        },
        "null": NULL,
    }
    return {"anyOf": [schema for t, schema in one.items() if t in types]}


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
    """The request fields a row takes on `sides`: each feeds features of those sides."""
    schema = model.schema
    props: dict[str, Any] = {}
    for field, targets in model.layout.targets.items():
        kinds, field_sides = set(), set()
        for kind, index in targets:
            if kind == "dense":
                kinds.add("number")
                field_sides.add(schema.dense[index].side)
                continue
            f = schema.sparse[index]
            field_sides.add(f.side)
            if f.bucketize:
                kinds.add("number")
            else:
                kinds.add("categorical-bag" if f.separator is not None else "categorical")
        if field_sides <= set(sides):
            props[field] = _value_schema(kinds)
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
    ids: dict[str, Any] = {"anyOf": [{"type": "string", "minLength": 1}, INT64]}
    catalogs = {tuple(m.catalog.ids.tolist()) for m in models.values()}
    if len(catalogs) == 1 and 0 < len(next(iter(catalogs))) <= ENUM_LIMIT:
        known = [str(i) for i in next(iter(catalogs))]
        numeric = [int(i) for i in known if i.isdigit() and str(int(i)) == i]
        ids = {"anyOf": [{"type": "string", "enum": known}]}  # 196 stands for "196"
        if numeric:
            ids["anyOf"].append({"type": "integer", "enum": numeric})
    for name, least in (("candidates", 1), ("exclude", 0)):
        rec[name] = {
            "anyOf": [
                {
                    "type": "array",
                    "items": ids,
                    "minItems": least,
                    "maxItems": settings.max_request_rows,
                    "uniqueItems": True,
                },
                {"type": "null"},
            ],
            "description": rec[name].get("description", ""),
        }
    score = _body(doc, "/score")["properties"]
    score["model"] = model_prop
    score["rows"] = {**score["rows"], "maxItems": settings.max_request_rows}
    if one is not None:
        user = {k: v for k, v in rec["user"].items() if k != "examples"}  # another schema's
        rec["user"] = {**user, **_features(one, ("user", "context"))}
        score["rows"]["items"] = _features(one, ("user", "item", "context"))
    narrow_v2(doc, models, settings)

"""The Open Inference Protocol v2 routes in the OpenAPI document, exact for the models served.

The generic `/infer` body (`service.v2_tensors.InferRequest`) takes any tensors; a model
takes one tensor per input of its metadata (`service.v2.model_metadata`). Once models
are loaded, `narrow_v2` states what the server accepts: `name` one of the loaded models
and `version` one of their versions; `inputs` the model's inputs, each once, in either
order, each with its datatype, its shape `[rows, width]` (the same rows in every input,
1 to `max_request_rows`) and `data` of `rows * width` JSON values of its datatype, flat
or nested as the shape is; `outputs` at most `score`; the parameters the server reads
typed (`binary_data_size` belongs to binary bodies, which the document describes in
words: `service.v2._infer_doc`). A body's row count and its data's length depend on
each other, which JSON Schema can state only one row count at a time: up to
`ROWS_ENUM_LIMIT` rows per request the document has a branch per row count; over it, it
states the bounds alone (the server still checks the count). When the loaded models
differ in their inputs' widths, the widths stay open.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import permutations
from typing import Any

from service.models import ServedModel
from service.schemas import FINITE_NUMBER
from service.settings import Settings
from service.v2 import DATATYPES, DENSE, SCORE, SPARSE

ROWS_ENUM_LIMIT = 16  # larger row limits get bounds, not a branch per row count

NULL: dict[str, Any] = {"type": "null"}
# a v2 parameter's value: any JSON scalar but null
PARAM_VALUE: dict[str, Any] = {"type": ["boolean", "integer", "number", "string"]}
ELEMENT: dict[str, dict[str, Any]] = {
    "FP32": {"anyOf": [FINITE_NUMBER, NULL], "description": "null: missing (JSON has no NaN)"},
    "BYTES": {"type": "string", "description": "the raw value as text; empty: missing"},
}


def _params(known: dict[str, Any]) -> dict[str, Any]:
    """A `parameters` object: the ones the server reads, typed; any others (ignored)."""
    return {
        "anyOf": [
            {"type": "object", "properties": known, "additionalProperties": PARAM_VALUE},
            NULL,
        ]
    }


def _array(items: dict[str, Any], least: int, most: int | None) -> dict[str, Any]:
    out = {"type": "array", "items": items, "minItems": least}
    return out if most is None else {**out, "maxItems": most}


def _tensor(name: str, width: int | None, rows: int | None, max_rows: int) -> dict[str, Any]:
    """One input tensor: a fixed row count, or (rows None) any count up to `max_rows`."""
    datatype = DATATYPES[name]
    element = ELEMENT[datatype]
    if rows is not None and width is not None:
        shape: dict[str, Any] = {"type": "array", "enum": [[rows, width]]}
        least, most = rows, rows
    else:
        shape = {
            "type": "array",
            "prefixItems": [
                {"type": "integer", "minimum": 1, "maximum": max_rows},
                {"type": "integer", "minimum": 0} if width is None else {"enum": [width]},
            ],
            "items": False,
            "minItems": 2,
        }
        least, most = 1, max_rows
    row = _array(element, width or 0, width)
    flat = _array(element, least * (width or 0), None if width is None else most * width)
    return {
        "type": "object",
        "properties": {
            "name": {"type": "string", "enum": [name]},
            "datatype": {"type": "string", "enum": [datatype]},
            "shape": shape,
            "data": {
                "anyOf": [flat, _array(row, least, most)],
                "description": "row major: flat, or nested as the shape is",
            },
            # JSON alone: binary_data_size needs a binary body, which has no schema here
            "parameters": _params({"binary_data_size": False}),
        },
        "required": ["name", "datatype", "shape", "data"],
        "additionalProperties": False,
    }


def _inputs(widths: dict[str, int] | None, max_rows: int) -> dict[str, Any]:
    """Every input the model needs (an input of width 0 may be left out), each once, in
    any order; one branch per row count when that is practical."""
    names = [DENSE, SPARSE]
    required = names if widths is None else [n for n in names if widths[n] > 0]
    optional = [n for n in names if n not in required]
    lists = [
        list(p) for k in range(len(optional) + 1) for p in permutations(names, len(required) + k)
    ]
    lists = [order for order in lists if set(required) <= set(order)]
    exact = widths is not None and max_rows <= ROWS_ENUM_LIMIT
    counts: list[int | None] = list(range(1, max_rows + 1)) if exact else [None]
    branches = [
        {
            "type": "array",
            "prefixItems": [
                _tensor(n, None if widths is None else widths[n], rows, max_rows) for n in order
            ],
            "items": False,
            "minItems": len(order),
        }
        for rows in counts
        for order in lists
    ]
    return {"anyOf": branches, "description": "the model's inputs (its metadata), each once"}


def infer_body(widths: dict[str, int] | None, max_rows: int) -> dict[str, Any]:
    output = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "enum": [SCORE]},
            "parameters": _params({"binary_data": {"type": "boolean"}}),
        },
        "required": ["name"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            "id": {"anyOf": [{"type": "string"}, NULL], "description": "echoed in the response"},
            "parameters": _params(
                {
                    "timeout": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "deadline in microseconds (capped by the server's)",
                    },
                    "binary_data_output": {"type": "boolean"},
                }
            ),
            "inputs": _inputs(widths, max_rows),
            "outputs": {"anyOf": [_array(output, 0, 1), NULL]},
        },
        "required": ["inputs"],
        "additionalProperties": False,
    }


def narrow_v2(doc: dict[str, Any], models: Mapping[str, ServedModel], settings: Settings) -> None:
    names = list(models)
    versions = sorted({m.version for m in models.values()})
    shapes = {(m.layout.num_dense, m.layout.num_sparse) for m in models.values()}
    widths = (
        dict(zip((DENSE, SPARSE), next(iter(shapes)), strict=True)) if len(shapes) == 1 else None
    )
    body = infer_body(widths, settings.max_request_rows)
    for path, ops in doc["paths"].items():
        if not path.startswith("/v2/models/"):
            continue
        for op in ops.values():
            for param in op.get("parameters", []):
                if param["in"] == "path" and param["name"] == "name":
                    param["schema"] = {"type": "string", "enum": names}
                elif param["in"] == "path" and param["name"] == "version":
                    param["schema"] = {"type": "string", "enum": versions}
            if path.endswith("/infer"):
                op["requestBody"]["content"]["application/json"]["schema"] = body

"""Request and response bodies of the HTTP API (pydantic 2).

Feature values are kept loose here (a JSON scalar or null) and checked against the
model's schema in `service.rows`, which names the offending field in its message.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
)

# A feature value as JSON gives it (an array for a multi-valued feature); bools are
# refused later with a clear message.
FeatureValue = (
    StrictInt | StrictFloat | StrictStr | StrictBool | list[StrictInt | StrictStr | None] | None
)
# An item id: a non-empty string, or an integer standing for its decimal text (196 is "196").
ItemId = Annotated[StrictStr, Field(min_length=1)] | StrictInt
Features = dict[str, FeatureValue]


def _whole(value: object) -> object:
    """JSON does not tell 10 from 10.0 (JSON Schema calls both integers): take both."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeNumber = Annotated[StrictInt, BeforeValidator(_whole)]
# A dense value in the OpenAPI document: JSON numbers are unbounded, float64 is not.
FINITE_NUMBER: dict[str, Any] = {
    "type": "number",
    "minimum": -sys.float_info.max,
    "maximum": sys.float_info.max,
}


class ModelRequest(BaseModel):
    """A request body that names the model to use (or takes the default)."""

    model_config = ConfigDict(extra="forbid")

    model: StrictStr | None = Field(None, description="model name; the default model when absent")
    timeout_ms: (
        Annotated[float, Field(gt=0, le=sys.float_info.max, allow_inf_nan=False, strict=True)]
        | None
    ) = Field(None, description="this request's deadline in ms (capped by the server's limit)")

    def timeout_s(self, limit_s: float) -> float:
        """The request's deadline in seconds: its own, but never over the server's."""
        return limit_s if self.timeout_ms is None else min(self.timeout_ms / 1000, limit_s)


class RecommendRequest(ModelRequest):
    user: Features = Field(
        default_factory=dict,
        description="user- and context-side features by name; absent ones are missing",
        examples=[{"C3": "1e0a3b5f", "I1": 3, "C1": "68fd1e64"}],
    )
    candidates: Annotated[list[ItemId], Field(min_length=1)] | None = Field(
        None, description="item ids to rank; all catalog items when absent"
    )
    exclude: list[ItemId] | None = Field(
        None, description="item ids never returned (say, the items the user has seen)"
    )
    k: WholeNumber = Field(10, description="how many items to return, 1..max_k")


class ScoredItem(BaseModel):
    item_id: str
    score: float


class RecommendResponse(BaseModel):
    model: str
    model_version: str
    items: list[ScoredItem]
    scored: int


class ScoreRequest(ModelRequest):
    rows: Annotated[list[Features], Field(min_length=1)] = Field(
        description="rows of features by name (any side); absent ones are missing"
    )


class ScoreResponse(BaseModel):
    model: str
    model_version: str
    scores: list[float]


class ModelInfo(BaseModel):
    name: str
    version: str
    backend: str
    device: str
    embedding: str
    embedding_bytes: int
    full_equivalent_bytes: int
    compression: float
    catalog_items: int
    default: bool
    schema_name: str
    features: dict[str, list[str]]


class ModelsResponse(BaseModel):
    models: list[ModelInfo]


class ErrorDetail(BaseModel):
    code: int
    type: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema with its `$defs` written in place, for a route documented by
    hand (`openapi_extra`): an OpenAPI document resolves `#/...` against itself, not
    against the schema it was copied from."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    result: dict[str, Any] = resolve(schema)
    return result


def error_responses(*codes: tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for error codes: each the one error body, with its meaning."""
    return {code: {"model": ErrorResponse, "description": desc} for code, desc in codes}

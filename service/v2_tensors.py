"""Open Inference Protocol v2 tensors on the wire: the infer request's body in, the response out.

A request body is a JSON object, optionally followed by the binary tensor data extension
(`Inference-Header-Content-Length` gives the JSON part's size; each input with a
`binary_data_size` parameter takes that many bytes of what follows, in input order).
Binary data is little-endian, row major; a BYTES element is a 4-byte little-endian length
followed by its bytes. Tensors come out as flat Python lists of their elements, so that
the rows built from them take the same path as a /score body (`service.rows`).
This module knows the wire format only; which tensors a model takes is `service.v2`'s.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from robe.keys import INT64_MAX
from service.bodies import parse
from service.errors import InvalidInput
from service.schemas import WholeNumber

HEADER_LENGTH = "Inference-Header-Content-Length"
Datatype = Literal[
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
    "FP16", "FP32", "FP64", "BYTES", "BF16",
]  # fmt: skip
# int64 dimensions, as many as a numpy array may have
Shape = Annotated[list[Annotated[WholeNumber, Field(ge=0, le=INT64_MAX)]], Field(max_length=64)]
ParamValue = StrictBool | StrictInt | float | StrictStr


class RequestInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StrictStr
    shape: Shape
    datatype: Datatype
    parameters: dict[str, ParamValue] | None = None
    data: Any = None


class RequestOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StrictStr
    parameters: dict[str, ParamValue] | None = None


class InferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: StrictStr | None = None
    parameters: dict[str, ParamValue] | None = None
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    name: str
    datatype: str
    shape: list[int]
    data: list[float] | None = Field(None, description="absent when sent as binary data")
    parameters: dict[str, int] | None = Field(None, description="binary_data_size, if binary")


class InferResponse(BaseModel):
    """The JSON part of a response (all of it unless the output is asked for as binary)."""

    model_name: str
    model_version: str
    id: str | None = Field(None, description="the request's id, when it gave one")
    outputs: list[ResponseOutput]


@dataclass(frozen=True)
class Tensor:
    """One input: its shape and its elements, flat in row-major order."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    values: list[Any]


def decode_request(body: bytes, header_length: str | None) -> tuple[InferRequest, list[Tensor]]:
    """The request and its inputs; InvalidInput names the input that is wrong."""
    json_part, binary = _split(body, header_length)
    request = parse(InferRequest, json_part)
    tensors, offset = [], 0
    for i, spec in enumerate(request.inputs):
        where = f"inputs[{i}] ({spec.name})"
        count = math.prod(spec.shape)
        size = (spec.parameters or {}).get("binary_data_size")
        if size is not None:
            if spec.data is not None:
                raise InvalidInput(f"{where}: give either data or binary_data_size, not both")
            if isinstance(size, float) and size.is_integer():
                size = int(size)  # JSON does not tell 10 from 10.0
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise InvalidInput(f"{where}.parameters.binary_data_size: must be an integer >= 0")
            if offset + size > len(binary):
                raise InvalidInput(
                    f"{where}: binary_data_size {size} runs past the end of the body "
                    f"({len(binary) - offset} bytes left)"
                )
            values = _from_binary(spec.datatype, binary[offset : offset + size], count, where)
            offset += size
        elif spec.data is None:
            raise InvalidInput(f"{where}: data is missing")
        else:
            values = _json_elements(spec.data, spec.shape, spec.datatype, where)
        tensors.append(Tensor(spec.name, spec.datatype, tuple(spec.shape), values))
    if offset != len(binary):
        raise InvalidInput(
            f"body: {len(binary) - offset} bytes of binary data are not claimed by any input"
        )
    return request, tensors


def _split(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    if not header_length.isdigit() or int(header_length) > len(body):
        raise InvalidInput(
            f"{HEADER_LENGTH}: {header_length!r} is not a byte count within the body "
            f"({len(body)} bytes)"
        )
    n = int(header_length)
    return body[:n], body[n:]


_NUMPY: dict[str, str] = {
    "BOOL": "?",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}


def _from_binary(datatype: str, raw: bytes, count: int, where: str) -> list[Any]:
    if datatype == "BYTES":
        return _bytes_elements(raw, count, where)
    if datatype not in _NUMPY:
        raise InvalidInput(f"{where}: datatype {datatype} cannot be sent as binary data here")
    dtype = np.dtype(_NUMPY[datatype])
    if len(raw) != count * dtype.itemsize:
        raise InvalidInput(
            f"{where}: {len(raw)} bytes of binary data do not hold {count} {datatype} elements "
            f"({count * dtype.itemsize} bytes)"
        )
    array = np.frombuffer(raw, dtype=dtype)
    if dtype.kind == "f":
        # NaN is the float tensors' missing value (null in a /score row)
        return [None if math.isnan(x) else x for x in array.tolist()]
    return array.tolist()


def _bytes_elements(raw: bytes, count: int, where: str) -> list[Any]:
    out: list[Any] = []
    pos = 0
    for _ in range(count):
        if pos + 4 > len(raw):
            raise InvalidInput(f"{where}: binary BYTES data ends inside element {len(out)}")
        (n,) = struct.unpack_from("<I", raw, pos)
        pos += 4
        if pos + n > len(raw):
            raise InvalidInput(f"{where}: binary BYTES element {len(out)} runs past its data")
        try:
            out.append(raw[pos : pos + n].decode("utf-8"))
        except UnicodeDecodeError:
            raise InvalidInput(f"{where}: BYTES element {len(out)} is not UTF-8 text") from None
        pos += n
    if pos != len(raw):
        raise InvalidInput(f"{where}: {len(raw) - pos} bytes left after {count} BYTES elements")
    return out


def _json_elements(data: Any, shape: list[int], datatype: str, where: str) -> list[Any]:
    """Row-major elements of JSON data, given flat or nested as the shape is (v2 allows
    both), each a JSON value of the datatype: a string for BYTES, true/false for BOOL, an
    integer for the integer types, a number (or null: missing) for the float types."""
    if not isinstance(data, list):
        raise InvalidInput(f"{where}.data: must be an array, got {type(data).__name__}")
    if any(isinstance(x, list) for x in data):
        out: list[Any] = []
        _nested(data, shape, 0, out, where)
    elif len(data) != math.prod(shape):
        raise InvalidInput(f"{where}.data: {len(data)} elements do not fill shape {shape}")
    else:
        out = data
    kind = _JSON_KIND.get(datatype, _JSON_KIND["INT"])
    for i, x in enumerate(out):
        if not kind[0](x):
            raise InvalidInput(f"{where}.data: element {i} is {x!r}, not {kind[1]}")
    return out


def _nested(node: Any, shape: list[int], depth: int, out: list[Any], where: str) -> None:
    """Append the leaves of `node`, a nesting of arrays as deep and as long as `shape` says."""
    if depth == len(shape):
        if isinstance(node, list):
            raise InvalidInput(f"{where}.data: nested deeper than shape {shape}")
        out.append(node)
        return
    if not isinstance(node, list) or len(node) != shape[depth]:
        raise InvalidInput(
            f"{where}.data: nested data must follow shape {shape} (or be given flat)"
        )
    for child in node:
        _nested(child, shape, depth + 1, out, where)


def _is_number(x: Any) -> bool:
    return x is None or (isinstance(x, int | float) and not isinstance(x, bool))


_JSON_KIND: dict[str, tuple[Callable[[Any], bool], str]] = {
    "BYTES": (lambda x: isinstance(x, str), "a string"),
    "BOOL": (lambda x: isinstance(x, bool), "true or false"),
    "INT": (lambda x: isinstance(x, int) and not isinstance(x, bool), "an integer"),
    **{f: (_is_number, "a number (or null: missing)") for f in ("FP16", "FP32", "FP64", "BF16")},
}


def encode_response(
    head: dict[str, Any], name: str, scores: np.ndarray[Any, np.dtype[np.float32]], binary: bool
) -> tuple[bytes, dict[str, str]]:
    """The response body with one FP32 output, and its headers (binary: JSON, then data)."""
    output: dict[str, Any] = {"name": name, "datatype": "FP32", "shape": [int(scores.shape[0])]}
    if not binary:
        output["data"] = scores.tolist()
        return json.dumps({**head, "outputs": [output]}).encode(), {
            "Content-Type": "application/json"
        }
    raw = scores.astype("<f4").tobytes()
    output["parameters"] = {"binary_data_size": len(raw)}
    header = json.dumps({**head, "outputs": [output]}).encode()
    return header + raw, {
        "Content-Type": "application/octet-stream",
        HEADER_LENGTH: str(len(header)),
    }

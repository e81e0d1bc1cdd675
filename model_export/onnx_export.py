"""ONNX: the DLRM around one `ai.robe` lookup node defined by a model-local function.

`torch.onnx.export` inlines (and its version converter drops) local functions, so it
exports only what follows the lookup (`ScoreFromEmbeddings`: dense + embeddings ->
score). The lookup node, its functions and the embedding weights are then written
around that graph with the onnx API. The embedding weights go to an external data
file when they would push the protobuf towards its 2 GiB limit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from model_export.errors import ExportError
from model_export.exportable import ScoreFromEmbeddings
from model_export.manifest import FORMAT_FILES, model_io
from model_export.onnx_functions import (
    DOMAIN,
    DOMAIN_VERSION,
    ROBE_LOOKUP,
    TABLE_LOOKUP,
    robe_functions,
    table_functions,
)
from model_export.quiet import torch_notices_silenced
from robe.checkpoint import ModelSpec
from robe.embeddings import FullEmbeddingCollection, RobeEmbeddingCollection
from robe.model import DLRM

OPSET = 20  # torch 2.13's exporter default: no version conversion of its graph
EXTERNAL_DATA_SUFFIX = ".data"
# The largest ROBE array whose Z-element windows (Z times its memory, computed when ONNX
# Runtime loads the model) the export lays out for row gathers: the Kaggle preset at 1000x
# (2.2 MB -> 35 MB) is, the terabyte preset's 96 MB array (1.5 GB of windows) is not.
WINDOWS_MAX_BYTES = 256 << 20
# Far enough below protobuf's 2 GiB that the rest of the model always fits beside it.
EXTERNAL_DATA_THRESHOLD = 1 << 30
_EMBEDDINGS = "embeddings"  # the value joining the lookup to the exported remainder
_BAG_EMBEDDINGS = "robe_bag_embeddings"


def export_onnx(model: DLRM, spec: ModelSpec, directory: Path) -> dict[str, Any]:
    """Write `model.onnx` (and its external data, if any); returns the manifest entry."""
    path = directory / FORMAT_FILES["onnx"]
    remainder = _export_remainder(model, spec)
    weights, lookup = _lookup_nodes(model, spec)
    external = sum(w.nbytes for w in weights.values()) > EXTERNAL_DATA_THRESHOLD
    data_file = path.name + EXTERNAL_DATA_SUFFIX
    initializers = _initializers(weights, directory / data_file if external else None)
    robe = spec.embedding.kind == "robe"
    windowed = robe and _windowed(spec)
    functions = robe_functions(OPSET, windowed) if robe else table_functions(OPSET)
    graph = _assemble(remainder.graph, spec, lookup, initializers)
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(DOMAIN, DOMAIN_VERSION)],
        functions=functions,
        producer_name="robe-serve",
        ir_version=remainder.ir_version,
    )
    onnx.save_model(onnx_model, str(path))
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"{path}: the exported ONNX model does not check ({exc})") from exc
    entry: dict[str, Any] = {
        "file": path.name,
        "opset": OPSET,
        "external_data": external,
        "lookup": f"{DOMAIN}::{lookup[0].op_type}",
    }
    if robe:
        entry["robe_gather"] = "windows" if windowed else "elements"
    if external:
        entry["data_file"] = data_file
    return entry


def _windowed(spec: ModelSpec) -> bool:
    """Whether RobeLookup gathers rows of Z-element windows (onnx_functions.robe_lookup)."""
    c = spec.embedding
    return c.robe_size * c.chunk * 4 <= WINDOWS_MAX_BYTES


def _export_remainder(model: DLRM, spec: ModelSpec) -> onnx.ModelProto:
    remainder = ScoreFromEmbeddings(model).eval()
    batch = 2  # any size: the batch axis is exported as dynamic
    example = (
        torch.zeros(batch, spec.schema.num_dense),
        torch.zeros(batch, spec.schema.num_sparse, spec.embedding.dim),
    )
    axis = torch.export.Dim("batch")
    with torch_notices_silenced():
        program = torch.onnx.export(
            remainder,
            example,
            dynamo=True,
            opset_version=OPSET,
            input_names=["dense", _EMBEDDINGS],
            output_names=["score"],
            dynamic_shapes={"dense": {0: axis}, "embeddings": {0: axis}},
            external_data=False,
            verbose=False,
        )
    if program is None:
        raise ExportError("torch.onnx.export returned no program")
    proto: onnx.ModelProto = program.model_proto
    if proto.functions:
        raise ExportError("the exported remainder unexpectedly holds ONNX functions")
    return proto


def _lookup_nodes(
    model: DLRM, spec: ModelSpec
) -> tuple[dict[str, np.ndarray[Any, Any]], list[onnx.NodeProto]]:
    """The embedding weights, the lookup node and the reshape to [batch, T, D]."""
    emb = model.embeddings
    c = spec.embedding
    weights: dict[str, np.ndarray[Any, Any]] = {}
    if isinstance(emb, RobeEmbeddingCollection):
        weights["robe.weight"] = emb.weight.detach().cpu().numpy()
        node = helper.make_node(
            ROBE_LOOKUP,
            ["robe.weight", "values", "offsets"],
            [_BAG_EMBEDDINGS],
            domain=DOMAIN,
            name="robe_lookup",
            num_tables=c.num_tables,
            dim=c.dim,
            chunk=c.chunk,
            coefficients=list(emb.coeffs),
        )
    elif isinstance(emb, FullEmbeddingCollection):
        sizes = np.asarray(c.table_sizes, dtype=np.int64)
        weights["table.weight"] = emb.weight.detach().cpu().numpy()
        weights["table.sizes"] = sizes
        weights["table.starts"] = np.cumsum(sizes) - sizes
        node = helper.make_node(
            TABLE_LOOKUP,
            ["table.weight", "values", "offsets", "table.sizes", "table.starts"],
            [_BAG_EMBEDDINGS],
            domain=DOMAIN,
            name="table_lookup",
            num_tables=c.num_tables,
        )
    else:
        raise ExportError(f"cannot export embeddings of type {type(emb).__name__} to ONNX")
    weights["robe.embeddings_shape"] = np.asarray([-1, c.num_tables, c.dim], dtype=np.int64)
    reshape = helper.make_node(
        "Reshape", [_BAG_EMBEDDINGS, "robe.embeddings_shape"], [_EMBEDDINGS], name="robe_unflatten"
    )
    return weights, [node, reshape]


def _initializers(
    weights: dict[str, np.ndarray[Any, Any]], data_path: Path | None
) -> list[TensorProto]:
    """Tensors for the weights; with `data_path`, the float matrices live in that file."""
    if data_path is None:
        return [numpy_helper.from_array(array, name) for name, array in weights.items()]
    out = []
    offset = 0
    with data_path.open("wb") as handle:
        for name, array in weights.items():
            if array.dtype != np.float32:
                out.append(numpy_helper.from_array(array, name))
                continue
            # Streamed straight to the file: one protobuf message cannot hold 2 GiB.
            proto = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=array.shape)
            np.ascontiguousarray(array, dtype="<f4").tofile(handle)
            proto.data_location = TensorProto.EXTERNAL
            for key, value in (
                ("location", data_path.name),
                ("offset", offset),
                ("length", array.nbytes),
            ):
                proto.external_data.add(key=key, value=str(value))
            offset += array.nbytes
            out.append(proto)
    return out


def _assemble(
    remainder: onnx.GraphProto,
    spec: ModelSpec,
    lookup: list[onnx.NodeProto],
    initializers: list[TensorProto],
) -> onnx.GraphProto:
    """The remainder's graph with the lookup in front and the manifest's named inputs."""
    inputs, outputs = model_io(spec.schema.num_dense)
    elem = {"float32": TensorProto.FLOAT, "int64": TensorProto.INT64}
    graph_inputs = [helper.make_tensor_value_info(t.name, elem[t.dtype], t.shape) for t in inputs]
    graph_outputs = [helper.make_tensor_value_info(t.name, elem[t.dtype], t.shape) for t in outputs]
    names = [o.name for o in remainder.output]
    if names != [outputs[0].name]:
        raise ExportError(f"the exported remainder has outputs {names}, expected ['score']")
    return helper.make_graph(
        [*lookup, *remainder.node],
        "robe_dlrm",
        graph_inputs,
        graph_outputs,
        initializer=[*initializers, *remainder.initializer],
        value_info=list(remainder.value_info),
    )

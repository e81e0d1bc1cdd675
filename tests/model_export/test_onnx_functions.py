"""The ai.robe ONNX functions against the torch op, on adversarial keys and ragged bags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

import robe.ops  # noqa: F401  (registers torch.ops.robe)
from model_export import onnx_functions as fn
from model_export.verify import ADVERSARIAL_KEYS
from robe.hashing import HashParams
from robe.ops import reference

OPSET = 20
TABLES, DIM, CHUNK, ARRAY = 3, 8, 4, 101
COEFFS = HashParams.from_seed(DIM // CHUNK, 7).coefficients
SIZES = np.array([50, 30, 7], dtype=np.int64)


def _session(
    nodes: list[onnx.NodeProto],
    outputs: list[Any],
    inits: list[Any],
    functions: Any,
    options: ort.SessionOptions | None = None,
):
    inputs = [
        helper.make_tensor_value_info("values", TensorProto.INT64, ["n"]),
        helper.make_tensor_value_info("offsets", TensorProto.INT64, ["bags_plus_one"]),
    ]
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=inits)
    opsets = [helper.make_opsetid("", OPSET), helper.make_opsetid(fn.DOMAIN, 1)]
    model = helper.make_model(graph, opset_imports=opsets, functions=functions)
    onnx.checker.check_model(model, full_check=True)
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def _bags(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random and adversarial keys in ragged bags, empty ones included."""
    rng = np.random.default_rng(seed)
    keys = rng.integers(-(2**63), 2**63 - 1, 500, dtype=np.int64, endpoint=True)
    values = np.concatenate([np.asarray(ADVERSARIAL_KEYS, dtype=np.int64), keys])
    cuts = rng.integers(0, values.size + 1, TABLES * 40 - 1)
    offsets = np.sort(np.concatenate([[0, values.size], cuts])).astype(np.int64)
    return values, offsets


@pytest.mark.parametrize("gather", sorted(fn.GATHERS))
@pytest.mark.parametrize("seed", [0, 1])
def test_robe_functions_match_the_op(seed: int, gather: str) -> None:
    attrs: dict[str, Any] = {
        "num_tables": TABLES,
        "dim": DIM,
        "chunk": CHUNK,
        "coefficients": COEFFS,
    }
    weight = np.random.default_rng(seed).standard_normal(ARRAY).astype(np.float32)
    nodes = [
        helper.make_node(
            "RobeSlots", ["values", "offsets", "size"], ["slots"], domain=fn.DOMAIN, **attrs
        ),
        helper.make_node(
            "RobeLookup", ["w", "values", "offsets"], ["out"], domain=fn.DOMAIN, **attrs
        ),
    ]
    outputs = [
        helper.make_tensor_value_info("slots", TensorProto.INT64, ["n", DIM // CHUNK]),
        helper.make_tensor_value_info("out", TensorProto.FLOAT, ["bags", DIM]),
    ]
    inits = [
        numpy_helper.from_array(np.array(ARRAY, dtype=np.int64), "size"),
        numpy_helper.from_array(weight, "w"),
    ]
    session = _session(nodes, outputs, inits, fn.robe_functions(OPSET, gather))
    values, offsets = _bags(seed)
    slots, out = session.run(None, {"values": values, "offsets": offsets})
    v, o = torch.from_numpy(values), torch.from_numpy(offsets)
    expected = torch.ops.robe.slots(v, o, TABLES, DIM // CHUNK, ARRAY - CHUNK + 1, COEFFS)
    np.testing.assert_array_equal(slots, expected.numpy())
    looked_up = torch.ops.robe.lookup(torch.from_numpy(weight), v, o, TABLES, DIM, CHUNK, COEFFS)
    np.testing.assert_allclose(out, looked_up.numpy(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("gather", sorted(fn.GATHERS))
@pytest.mark.parametrize("array", [96, 101, 111])  # a multiple of Z, and not
def test_robe_rows_at_every_start(gather: str, array: int) -> None:
    """Every chunk start 0..|M|-Z (the last rows, the row boundaries) gathers exactly
    weight[s:s+Z], whatever the padding: the bit-exact oracle is the array itself."""
    dim, chunk = 48, 16
    weight = np.random.default_rng(array).standard_normal(array).astype(np.float32)
    starts = np.arange(array - chunk + 1, dtype=np.int64)
    slots = np.resize(starts, (starts.size + 2) // 3 * 3).reshape(-1, dim // chunk)
    inputs = [helper.make_tensor_value_info("slots", TensorProto.INT64, ["n", dim // chunk])]
    shape: list[str | int] = ["n", dim // chunk, chunk] if gather == "windows" else ["n", dim]
    outputs = [helper.make_tensor_value_info("rows", TensorProto.FLOAT, shape)]
    nodes = [
        helper.make_node(fn.ROBE_TABLE, ["w"], ["table"], domain=fn.DOMAIN, chunk=chunk),
        helper.make_node(
            fn.ROBE_ROWS, ["table", "slots"], ["rows"], domain=fn.DOMAIN, dim=dim, chunk=chunk
        ),
    ]
    graph = helper.make_graph(
        nodes, "g", inputs, outputs, initializer=[numpy_helper.from_array(weight, "w")]
    )
    opsets = [helper.make_opsetid("", OPSET), helper.make_opsetid(fn.DOMAIN, 1)]
    functions = [fn.robe_table(OPSET, gather), fn.robe_rows(OPSET, gather)]
    model = helper.make_model(graph, opset_imports=opsets, functions=functions)
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (rows,) = session.run(None, {"slots": slots})
    expected = weight[slots[..., None] + np.arange(chunk)]
    assert rows.shape == (slots.shape[0], *shape[1:]), rows.shape
    np.testing.assert_array_equal(rows.reshape(expected.shape), expected)


def test_pair_windows_are_taken_per_value() -> None:
    """The pairs form takes the Z-wide windows with one GatherElements over each value's
    pairs side by side ([N, C*2Z] -> [N, dim]), not over [N, C, 2Z]: ONNX Runtime's
    kernel pays a cost per index row, N*C of them that way (6.0 against 4.0 ms of a
    terabyte batch). The values it gathers: test_robe_rows_at_every_start."""
    (rows,) = [f for f in fn.robe_functions(OPSET, "pairs") if f.name == fn.ROBE_ROWS]
    (window,) = [n for n in rows.node if n.op_type == "GatherElements"]
    assert window.output[0] == rows.output[0]  # the lookup's one-value branch ends on it
    (axis,) = window.attribute
    assert axis.i == 1
    producers = {out: n for n in rows.node for out in n.output}
    for source in window.input:
        assert producers[source].op_type == "Reshape", source
        shape = producers[producers[source].input[1]]
        assert list(shape.attribute[0].ints) == [0, -1], source  # [N, C*k]: per value


@pytest.mark.parametrize("gather", sorted(fn.GATHERS))
def test_robe_lookup_is_the_reference_bit_for_bit(gather: str) -> None:
    """The terabyte shape scaled down (26 tables, dim 128, Z 16; an array not a multiple
    of Z), one value per bag as served, random and adversarial keys: the same floats as
    robe.ops.reference.lookup, the oracle."""
    tables, dim, chunk, array = 26, 128, 16, 40_009
    coeffs = HashParams.from_seed(dim // chunk, 3).coefficients
    rng = np.random.default_rng(5)
    weight = rng.standard_normal(array).astype(np.float32)
    keys = rng.integers(-(2**63), 2**63 - 1, 26 * 40, dtype=np.int64, endpoint=True)
    values = np.concatenate([np.asarray(ADVERSARIAL_KEYS, dtype=np.int64), keys])
    values = values[: values.size // tables * tables]
    offsets = np.arange(values.size + 1, dtype=np.int64)
    attrs: dict[str, Any] = {
        "num_tables": tables,
        "dim": dim,
        "chunk": chunk,
        "coefficients": coeffs,
    }
    node = helper.make_node("RobeLookup", ["w", "values", "offsets"], ["out"], **attrs)
    node.domain = fn.DOMAIN
    outputs = [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["bags", dim])]
    inits = [numpy_helper.from_array(weight, "w")]
    session = _session([node], outputs, inits, fn.robe_functions(OPSET, gather))
    (out,) = session.run(None, {"values": values, "offsets": offsets})
    expected = reference.lookup(
        torch.from_numpy(weight),
        torch.from_numpy(values),
        torch.from_numpy(offsets),
        tables,
        dim,
        chunk,
        coeffs,
    )
    np.testing.assert_array_equal(out, expected.numpy())


def test_table_functions_use_the_hashing_trick() -> None:
    starts = np.cumsum(SIZES) - SIZES
    weight = np.random.default_rng(0).standard_normal((int(SIZES.sum()), DIM)).astype(np.float32)
    table_inputs = ["values", "offsets", "sizes", "starts"]
    nodes = [
        helper.make_node("TableRows", table_inputs, ["rows"], domain=fn.DOMAIN, num_tables=TABLES),
        helper.make_node(
            "TableLookup", ["w", *table_inputs], ["out"], domain=fn.DOMAIN, num_tables=TABLES
        ),
    ]
    outputs = [
        helper.make_tensor_value_info("rows", TensorProto.INT64, ["n"]),
        helper.make_tensor_value_info("out", TensorProto.FLOAT, ["bags", DIM]),
    ]
    inits = [
        numpy_helper.from_array(SIZES, "sizes"),
        numpy_helper.from_array(starts, "starts"),
        numpy_helper.from_array(weight, "w"),
    ]
    session = _session(nodes, outputs, inits, fn.table_functions(OPSET))
    values, offsets = _bags(2)
    rows, out = session.run(None, {"values": values, "offsets": offsets})
    lengths = np.diff(offsets)
    tables = np.repeat(np.arange(lengths.size), lengths) % TABLES
    np.testing.assert_array_equal(rows, np.mod(values, SIZES[tables]) + starts[tables])
    bags = np.repeat(np.arange(lengths.size), lengths)
    expected = np.zeros((lengths.size, DIM), dtype=np.float64)
    np.add.at(expected, bags, weight[rows])
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)


def _lookup_node(seed: int) -> tuple[Any, Any, list[Any]]:
    """A random ROBE array, a RobeLookup node over it (input "w") and its output's info."""
    attrs: dict[str, Any] = {
        "num_tables": TABLES,
        "dim": DIM,
        "chunk": CHUNK,
        "coefficients": COEFFS,
    }
    weight = np.random.default_rng(seed).standard_normal(ARRAY).astype(np.float32)
    node = helper.make_node(
        "RobeLookup", ["w", "values", "offsets"], ["out"], domain=fn.DOMAIN, **attrs
    )
    outputs = [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["bags", DIM])]
    return weight, node, outputs


@pytest.mark.parametrize("gather", sorted(fn.GATHERS))
def test_one_bag_per_value_is_told_from_ragged_bags_of_the_same_count(gather: str) -> None:
    """The lookup skips the bag scatters only for offsets 0..N: offsets of the same
    length with an empty bag and a bag of two still sum bags (and hash by bag)."""
    weight, node, outputs = _lookup_node(seed=3)
    inits = [numpy_helper.from_array(weight, "w")]
    session = _session([node], outputs, inits, fn.robe_functions(OPSET, gather))
    values = np.arange(1, 3 * TABLES + 1, dtype=np.int64) * 7919
    single = np.arange(values.size + 1, dtype=np.int64)
    ragged = single.copy()
    ragged[1] = 0  # bag 0 empty, bag 1 holds values 0 and 1
    for offsets in (single, ragged):
        (out,) = session.run(None, {"values": values, "offsets": offsets})
        v, o = torch.from_numpy(values), torch.from_numpy(offsets)
        expected = reference.lookup(torch.from_numpy(weight), v, o, TABLES, DIM, CHUNK, COEFFS)
        np.testing.assert_allclose(out, expected.numpy(), rtol=0, atol=1e-6)
    assert not out[0].any()  # the empty bag: the ragged offsets were not taken as single


@pytest.mark.parametrize("gather", sorted(fn.GATHERS))
def test_the_gather_table_is_folded_once(gather: str, tmp_path: Path) -> None:
    """ONNX Runtime folds the table RobeRows gathers from into one constant at load, not
    one per branch of the lookup's `If` (each a copy: 192 MB at the terabyte shape)."""
    weight, node, outputs = _lookup_node(seed=4)
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    inits = [numpy_helper.from_array(weight, "w")]
    _session([node], outputs, inits, fn.robe_functions(OPSET, gather), options)
    optimized = onnx.load(str(tmp_path / "optimized.onnx"))
    width = CHUNK if gather == "windows" else 2 * CHUNK
    tables = [
        t
        for g in _graphs(optimized.graph)
        for t in g.initializer
        if len(t.dims) == 2 and t.dims[1] == width and t.data_type == TensorProto.FLOAT
    ]
    assert len(tables) == 1, [t.name for t in tables]


def _graphs(graph: onnx.GraphProto) -> list[onnx.GraphProto]:
    """`graph` and every subgraph (If branches) in it."""
    out = [graph]
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                out += _graphs(attribute.g)
    return out

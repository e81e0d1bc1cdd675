"""The lookups as model-local ONNX functions of domain `ai.robe`, in standard ops only.

Stock ONNX Runtime inlines a model-local function, so the `ai.robe` node runs on any
provider, and a runtime with a fused kernel for the domain can take the node whole.

- `BagIds(values, offsets) -> bags [N]`: the bag of each value (batch-major bags).
- `RobeSlots(values, offsets, array_size) -> [N, dim/chunk]`: ROBE-Z chunk starts,
  exactly `robe::slots` (docs/hashing.md); attributes num_tables, dim, chunk,
  coefficients (the row-major [dim/chunk, 5] table of (b, a0, a1, a2, a3) per chunk).
- `RobeLookup(weight, values, offsets) -> [bags, dim]`: the summed bag embeddings.
- `TableRows` / `TableLookup`: the plain-table baseline (hashing trick).

ONNX's BitShift is unsigned-only, so the int64 limbs are taken with Mod (whose integer
result takes the divisor's sign, i.e. equals `x & (2**k - 1)` in two's complement) and
Div of an exact multiple of 2**k, which is the arithmetic shift whatever the rounding.
All products stay below 2**56, as in the spec.
"""

from __future__ import annotations

from typing import Any

from onnx import AttributeProto, FunctionProto, NodeProto, TensorProto, helper

from robe.hashing import COEFFS_PER_CHUNK, LIMB_BITS, PRIME

DOMAIN = "ai.robe"
DOMAIN_VERSION = 1
INT64_MAX = 2**63 - 1

BAG_IDS = "BagIds"
ROBE_SLOTS = "RobeSlots"
ROBE_LOOKUP = "RobeLookup"
TABLE_ROWS = "TableRows"
TABLE_LOOKUP = "TableLookup"
ROBE_ATTRIBUTES = ("num_tables", "dim", "chunk", "coefficients")
TABLE_ATTRIBUTES = ("num_tables",)


def _const(name: str, value: int | list[int]) -> NodeProto:
    if isinstance(value, list):
        return helper.make_node("Constant", [], [name], value_ints=value)
    return helper.make_node("Constant", [], [name], value_int=value)


def _ref_const(name: str, attribute: str, *, ints: bool = False) -> NodeProto:
    """A Constant whose value is the calling node's attribute `attribute`."""
    node = helper.make_node("Constant", [], [name])
    node.attribute.append(_ref(attribute, ints=ints, field="value_ints" if ints else "value_int"))
    return node


def _ref(attribute: str, *, ints: bool, field: str) -> AttributeProto:
    """Node attribute `field` taking the value of the enclosing function's `attribute`."""
    kind = AttributeProto.INTS if ints else AttributeProto.INT
    return AttributeProto(name=field, ref_attr_name=attribute, type=kind)


def _node(op: str, inputs: list[str], outputs: list[str], **attrs: Any) -> NodeProto:
    return helper.make_node(op, inputs, outputs, **attrs)


def _call(op: str, inputs: list[str], outputs: list[str], attributes: tuple[str, ...]) -> NodeProto:
    """A call of another ai.robe function, passing `attributes` through by reference."""
    node = helper.make_node(op, inputs, outputs, domain=DOMAIN)
    for name in attributes:
        node.attribute.append(_ref(name, ints=name == "coefficients", field=name))
    return node


def _function(
    name: str,
    inputs: list[str],
    outputs: list[str],
    nodes: list[NodeProto],
    attributes: tuple[str, ...],
    opset: int,
) -> FunctionProto:
    return helper.make_function(
        DOMAIN,
        name,
        inputs,
        outputs,
        nodes,
        [helper.make_opsetid("", opset), helper.make_opsetid(DOMAIN, DOMAIN_VERSION)],
        attributes=list(attributes),
    )


def bag_ids(opset: int) -> FunctionProto:
    """Value i is in bag #{j : offsets[j+1] <= i}: a scatter of bag ends, then a prefix sum."""
    nodes = [
        _const("zero", [0]),
        _const("one", [1]),
        _const("big", [INT64_MAX]),
        _node("Shape", ["values"], ["n"]),
        _node("Add", ["n", "one"], ["n1"]),
        _node(
            "ConstantOfShape",
            ["n1"],
            ["zeros"],
            value=helper.make_tensor("v", TensorProto.INT64, [1], [0]),
        ),
        _node("Slice", ["offsets", "one", "big"], ["ends"]),
        _node("Shape", ["ends"], ["num_bags"]),
        _node("Expand", ["one", "num_bags"], ["ones"]),
        _node("ScatterElements", ["zeros", "ends", "ones"], ["marks"], axis=0, reduction="add"),
        _const("axis0", 0),
        _node("CumSum", ["marks", "axis0"], ["running"]),
        _node("Slice", ["running", "zero", "n"], ["bags"]),
    ]
    return _function(BAG_IDS, ["values", "offsets"], ["bags"], nodes, (), opset)


def _limbs() -> list[NodeProto]:
    """l0, l1, l2 of `values` (21, 21, 22 bits), as non-negative int64."""
    nodes: list[NodeProto] = []
    rest = "values"
    for i, bits in enumerate(LIMB_BITS):
        nodes.append(_const(f"base{i}", 1 << bits))
        nodes.append(_node("Mod", [rest, f"base{i}"], [f"l{i}"], fmod=0))
        if i < len(LIMB_BITS) - 1:
            nodes.append(_node("Sub", [rest, f"l{i}"], [f"high{i}"]))
            nodes.append(_node("Div", [f"high{i}", f"base{i}"], [f"rest{i}"]))
            rest = f"rest{i}"
    return nodes


def robe_slots(opset: int) -> FunctionProto:
    """h[n, c] = (b_c + a0_c*l0 + a1_c*l1 + a2_c*l2 + a3_c*t) mod P; slot = h mod (m - Z + 1)."""
    columns = ["b", "a0", "a1", "a2", "a3"]
    nodes = [
        _ref_const("num_tables", "num_tables"),
        _ref_const("chunk", "chunk"),
        _ref_const("coeffs", "coefficients", ints=True),
        _const("prime", PRIME),
        _const("step", 1),
        _const("axis1", [1]),
        _const("rows_of_5", [-1, COEFFS_PER_CHUNK]),
        _node("Reshape", ["coeffs", "rows_of_5"], ["table"]),  # [C, 5], one row per chunk
        *[_const(f"col{i}", i) for i in range(len(columns))],
        *[_node("Gather", ["table", f"col{i}"], [name], axis=1) for i, name in enumerate(columns)],
        _call(BAG_IDS, ["values", "offsets"], ["bags"], ()),
        _node("Mod", ["bags", "num_tables"], ["tables"], fmod=0),
        *_limbs(),
        _node("Unsqueeze", ["tables", "axis1"], ["l3"]),
        _node("Unsqueeze", ["l0", "axis1"], ["c0"]),
        _node("Unsqueeze", ["l1", "axis1"], ["c1"]),
        _node("Unsqueeze", ["l2", "axis1"], ["c2"]),
        _node("Mul", ["c0", "a0"], ["t0"]),  # [N, 1] * [C] -> [N, C]
        _node("Mul", ["c1", "a1"], ["t1"]),
        _node("Mul", ["c2", "a2"], ["t2"]),
        _node("Mul", ["l3", "a3"], ["t3"]),
        _node("Add", ["t0", "b"], ["s0"]),
        _node("Add", ["s0", "t1"], ["s1"]),
        _node("Add", ["s1", "t2"], ["s2"]),
        _node("Add", ["s2", "t3"], ["sum"]),
        _node("Mod", ["sum", "prime"], ["hashed"], fmod=0),
        _node("Sub", ["array_size", "chunk"], ["last_start"]),
        _node("Add", ["last_start", "step"], ["num_slots"]),
        _node("Mod", ["hashed", "num_slots"], ["slots"], fmod=0),
    ]
    return _function(
        ROBE_SLOTS, ["values", "offsets", "array_size"], ["slots"], nodes, ROBE_ATTRIBUTES, opset
    )


def _lookup_consts() -> list[NodeProto]:
    return [
        _const("one", [1]),
        _const("big", [INT64_MAX]),
        _const("axis1", [1]),
        _const("zero1", [0]),
        _const("minus1", [-1]),
    ]


def _bag_sum() -> list[NodeProto]:
    """out[bags[i]] += rows[i]: the bag sum of `rows` [N, D] into `out` [num_bags, D]."""
    return [
        _call(BAG_IDS, ["values", "offsets"], ["bags"], ()),
        _node("Shape", ["offsets"], ["num_offsets"]),
        _node("Sub", ["num_offsets", "one"], ["num_bags"]),
        _node("Shape", ["rows"], ["row_shape"]),
        _node("Slice", ["row_shape", "minus1", "big"], ["width"]),
        _node("Concat", ["num_bags", "width"], ["out_shape"], axis=0),
        _node(
            "ConstantOfShape",
            ["out_shape"],
            ["empty"],
            value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.0]),
        ),
        _node("CastLike", ["empty", "rows"], ["zeros"]),
        _node("Unsqueeze", ["bags", "axis1"], ["bag_index"]),
        _node("ScatterND", ["zeros", "bag_index", "rows"], ["out"], reduction="add"),
    ]


def robe_lookup(opset: int) -> FunctionProto:
    nodes = [
        _ref_const("dim", "dim"),
        _ref_const("chunk", "chunk"),
        _const("zero", 0),
        _const("step", 1),
        _const("axis2", [2]),
        *_lookup_consts(),
        _node("Size", ["weight"], ["array_size"]),
        _call(ROBE_SLOTS, ["values", "offsets", "array_size"], ["slots"], ROBE_ATTRIBUTES),
        _node("Range", ["zero", "chunk", "step"], ["within"]),
        _node("Unsqueeze", ["slots", "axis2"], ["starts"]),
        _node("Add", ["starts", "within"], ["elements"]),
        _node("Unsqueeze", ["dim", "zero1"], ["dim1"]),
        _node("Concat", ["minus1", "dim1"], ["index_shape"], axis=0),
        _node("Reshape", ["elements", "index_shape"], ["index"]),
        _node("Gather", ["weight", "index"], ["rows"], axis=0),
        *_bag_sum(),
    ]
    return _function(
        ROBE_LOOKUP, ["weight", "values", "offsets"], ["out"], nodes, ROBE_ATTRIBUTES, opset
    )


def table_rows(opset: int) -> FunctionProto:
    nodes = [
        _ref_const("num_tables", "num_tables"),
        _call(BAG_IDS, ["values", "offsets"], ["bags"], ()),
        _node("Mod", ["bags", "num_tables"], ["tables"], fmod=0),
        _node("Gather", ["sizes", "tables"], ["size"], axis=0),
        _node("Gather", ["starts", "tables"], ["start"], axis=0),
        _node("Mod", ["values", "size"], ["within"], fmod=0),
        _node("Add", ["within", "start"], ["rows"]),
    ]
    return _function(
        TABLE_ROWS,
        ["values", "offsets", "sizes", "starts"],
        ["rows"],
        nodes,
        TABLE_ATTRIBUTES,
        opset,
    )


def table_lookup(opset: int) -> FunctionProto:
    nodes = [
        *_lookup_consts(),
        _call(TABLE_ROWS, ["values", "offsets", "sizes", "starts"], ["row_ids"], TABLE_ATTRIBUTES),
        _node("Gather", ["weight", "row_ids"], ["rows"], axis=0),
        *_bag_sum(),
    ]
    return _function(
        TABLE_LOOKUP,
        ["weight", "values", "offsets", "sizes", "starts"],
        ["out"],
        nodes,
        TABLE_ATTRIBUTES,
        opset,
    )


def robe_functions(opset: int) -> list[FunctionProto]:
    return [bag_ids(opset), robe_slots(opset), robe_lookup(opset)]


def table_functions(opset: int) -> list[FunctionProto]:
    return [bag_ids(opset), table_rows(opset), table_lookup(opset)]

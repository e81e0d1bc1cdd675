"""The lookups as model-local ONNX functions of domain `ai.robe`, in standard ops only.

Stock ONNX Runtime inlines a model-local function, so the `ai.robe` node runs on any
provider, and a runtime with a fused kernel for the domain can take the node whole.

- `BagIds(values, offsets) -> bags [N]`: the bag of each value (batch-major bags).
- `RobeSlots(values, offsets, array_size) -> [N, dim/chunk]`: ROBE-Z chunk starts,
  exactly `robe::slots` (docs/hashing.md); attributes num_tables, dim, chunk,
  coefficients (the row-major [dim/chunk, 5] table of (b, a0, a1, a2, a3) per chunk).
- `RobeTable(weight) -> table`: what the rows are gathered from, a function of the
  weight alone (ONNX Runtime folds it once, at load); attribute chunk.
- `RobeRows(table, slots) -> rows`: the chunks at those starts, row-major: `[N,
  dim/chunk, chunk]` (windows) or `[N, dim]` (pairs); attributes dim, chunk. Two
  forms of both, same rows (`GATHERS`): whole windows, or row pairs.
- `RobeLookup(weight, values, offsets) -> [bags, dim]`: the summed bag embeddings.
- `TableRows` / `TableLookup`: the plain-table baseline (hashing trick).

The graph is written for ONNX Runtime's CPU kernels, measured: its int64 Div and Mod
divide element by element (~10 ns each), so the limbs are taken with BitwiseAnd and exact
float64 scaling, the linear part of the hash is one int64 MatMul, and ROBE rows are
gathered whole from a table computed at load (`RobeRows`). All products stay below
2**56, as in the spec.
"""

from __future__ import annotations

from typing import Any

import onnx
from onnx import AttributeProto, FunctionProto, NodeProto, TensorProto, helper

from robe.hashing import COEFFS_PER_CHUNK, LIMB_BITS, PRIME

DOMAIN = "ai.robe"
DOMAIN_VERSION = 1
INT64_MAX = 2**63 - 1

BAG_IDS = "BagIds"
ROBE_SLOTS = "RobeSlots"
ROBE_TABLE = "RobeTable"
ROBE_ROWS = "RobeRows"
ROBE_LOOKUP = "RobeLookup"
TABLE_ROWS = "TableRows"
TABLE_LOOKUP = "TableLookup"
ROBE_ATTRIBUTES = ("num_tables", "dim", "chunk", "coefficients")
ROBE_TABLE_ATTRIBUTES = ("chunk",)
ROWS_ATTRIBUTES = ("dim", "chunk")
TABLE_ATTRIBUTES = ("num_tables",)


def _const(name: str, value: int | list[int]) -> NodeProto:
    if isinstance(value, list):
        return helper.make_node("Constant", [], [name], value_ints=value)
    return helper.make_node("Constant", [], [name], value_int=value)


def _column(name: str, values: list[int] | list[float]) -> NodeProto:
    """A [len, 1] constant: int64, or float64 when the values are floats."""
    is_float = isinstance(values[0], float)
    kind = TensorProto.DOUBLE if is_float else TensorProto.INT64
    tensor = helper.make_tensor(name, kind, [len(values), 1], values)
    return helper.make_node("Constant", [], [name], value=tensor)


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


def _one_value_per_bag() -> list[NodeProto]:
    """`single` (bool scalar): offsets = 0..N, every bag holds one value, as in every
    request the service builds and in Criteo data. Then bag i is value i, and both
    the bag ids and the bag sum are identities: `If` skips their scatters."""
    return [
        _const("s_zero", 0),
        _const("s_one", 1),
        _node("Size", ["values"], ["s_values"]),
        _node("Size", ["offsets"], ["s_offsets"]),
        _node("Add", ["s_values", "s_one"], ["s_wanted"]),
        _node("Equal", ["s_offsets", "s_wanted"], ["s_length"]),
        _node("Range", ["s_zero", "s_offsets", "s_one"], ["s_counting"]),
        _node("Equal", ["offsets", "s_counting"], ["s_each"]),  # same length, whatever N
        _node("Cast", ["s_each"], ["s_each64"], to=TensorProto.INT64),
        _node("ReduceMin", ["s_each64"], ["s_all64"], keepdims=0),
        _node("Cast", ["s_all64"], ["s_all"], to=TensorProto.BOOL),
        _node("And", ["s_length", "s_all"], ["single"]),
    ]


def _branch(name: str, nodes: list[NodeProto], output: str) -> onnx.GraphProto:
    """An `If` branch: `nodes` computing `output` from the enclosing scope's values."""
    return helper.make_graph(nodes, name, [], [helper.make_empty_tensor_value_info(output)])


def _if(
    then_nodes: list[NodeProto],
    then_out: str,
    else_nodes: list[NodeProto],
    else_out: str,
    output: str,
) -> NodeProto:
    return _node(
        "If",
        ["single"],
        [output],
        then_branch=_branch(f"{output}_single", then_nodes, then_out),
        else_branch=_branch(f"{output}_any", else_nodes, else_out),
    )


def bag_ids(opset: int) -> FunctionProto:
    """Value i is in bag #{j : offsets[j+1] <= i}: a scatter of bag ends, then a prefix
    sum; `0..N-1` without them when every bag holds one value."""
    general = [
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
        _node("Slice", ["running", "zero", "n"], ["scattered"]),
    ]
    counted = [_node("Range", ["s_zero", "s_values", "s_one"], ["counted"])]
    nodes = [*_one_value_per_bag(), _if(counted, "counted", general, "scattered", "bags")]
    return _function(BAG_IDS, ["values", "offsets"], ["bags"], nodes, (), opset)


def _limbs() -> list[NodeProto]:
    """`limbs` [3, N]: l0, l1, l2 of `values` (21, 21, 22 bits), without an integer
    division (ONNX Runtime's int64 Div and Mod cost ~10 ns an element; BitShift is
    unsigned-only). Rows of [3, N] tensors, each step exact:

    - x & [2**21-1, bits 21..41, bits 42..63] = [l0, l1 * 2**21, (x >> 42) * 2**42]
      (two's complement: clearing the low 42 bits of x gives floor(x / 2**42) * 2**42);
      each has at most 22 significant bits, so it is exact as float64, and so is
      scaling it by [1, 2**-21, 2**-42];
    - back to int64, & [2**21-1, 2**21-1, 2**22-1] makes the top limb non-negative.

    Rows, not columns: ONNX Runtime broadcasts a [3, 1] operand over [1, N] in three
    runs of N, but a [3] one over [N, 1] in N runs of 3, measured 4x slower."""
    shifts = [sum(LIMB_BITS[:i]) for i in range(len(LIMB_BITS))]
    fields = [((1 << bits) - 1) << shift for bits, shift in zip(LIMB_BITS, shifts, strict=True)]
    fields[-1] -= 1 << 64  # bits 42..63 as an int64: the sign bit set
    return [
        _const("axis0", [0]),
        _column("fields", fields),
        _column("scales", [2.0**-shift for shift in shifts]),
        _column("limb_masks", [(1 << bits) - 1 for bits in LIMB_BITS]),
        _node("Unsqueeze", ["values", "axis0"], ["x"]),  # [1, N]
        _node("BitwiseAnd", ["x", "fields"], ["shifted_up"]),  # [3, N]
        _node("Cast", ["shifted_up"], ["as_double"], to=TensorProto.DOUBLE),
        _node("Mul", ["as_double", "scales"], ["scaled"]),
        _node("Cast", ["scaled"], ["signed_limbs"], to=TensorProto.INT64),
        _node("BitwiseAnd", ["signed_limbs", "limb_masks"], ["limbs"]),
    ]


def robe_slots(opset: int) -> FunctionProto:
    """h[n, c] = (b_c + a0_c*l0 + a1_c*l1 + a2_c*l2 + a3_c*t) mod P; slot = h mod (m - Z + 1).

    The linear part is one int64 MatMul of the coefficients ([C, 4]) with
    [l0, l1, l2, t] ([4, N]): every product and sum stays below 2**59, so it is exact."""
    nodes = [
        _ref_const("num_tables", "num_tables"),
        _ref_const("chunk", "chunk"),
        _ref_const("coeffs", "coefficients", ints=True),
        _const("prime", PRIME),
        _const("step", 1),
        _const("rows_of_5", [-1, COEFFS_PER_CHUNK]),
        _const("first", [0]),
        _const("second", [1]),
        _const("past", [COEFFS_PER_CHUNK]),
        _node("Reshape", ["coeffs", "rows_of_5"], ["table"]),  # [C, 5]: (b, a0, a1, a2, a3)
        _node("Slice", ["table", "first", "second", "second"], ["b"]),  # [C, 1]
        _node("Slice", ["table", "second", "past", "second"], ["a"]),  # [C, 4]
        _call(BAG_IDS, ["values", "offsets"], ["bags"], ()),
        _node("Mod", ["bags", "num_tables"], ["tables"], fmod=0),
        *_limbs(),
        _node("Unsqueeze", ["tables", "axis0"], ["t"]),  # [1, N]
        _node("Concat", ["limbs", "t"], ["features"], axis=0),  # [4, N]
        _node("MatMul", ["a", "features"], ["linear"]),  # [C, N]
        _node("Add", ["linear", "b"], ["sum"]),
        _node("Mod", ["sum", "prime"], ["hashed"], fmod=0),
        _node("Sub", ["array_size", "chunk"], ["last_start"]),
        _node("Add", ["last_start", "step"], ["num_slots"]),
        _node("Mod", ["hashed", "num_slots"], ["slots_by_chunk"], fmod=0),
        _node("Transpose", ["slots_by_chunk"], ["slots"], perm=[1, 0]),  # [N, C]
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


def _rows_bag_sum(gather: NodeProto) -> list[NodeProto]:
    """`gather` computes `rows` ([N, D], or [N, C, Z] for ROBE); out[bags[i]] += rows[i]
    sums them into `out` [num_bags, D]. When every bag holds one value, `out` is the
    rows, gathered straight into the output: `gather` runs inside each branch of the
    `If`, and the single branch ends on it, since a branch returning an outer value or
    a reshaped view copies it (profiled: 2% of a terabyte batch, the ScatterND's cost)."""
    single = onnx.NodeProto()
    single.CopyFrom(gather)
    single.output[0] = "rows_one"
    general = [
        gather,
        _node("Flatten", ["rows"], ["flat_rows"], axis=1),
        _call(BAG_IDS, ["values", "offsets"], ["bags"], ()),
        _node("Shape", ["offsets"], ["num_offsets"]),
        _node("Sub", ["num_offsets", "one"], ["num_bags"]),
        _node("Shape", ["flat_rows"], ["row_shape"]),
        _node("Slice", ["row_shape", "minus1", "big"], ["width"]),
        _node("Concat", ["num_bags", "width"], ["out_shape"], axis=0),
        _node(
            "ConstantOfShape",
            ["out_shape"],
            ["empty"],
            value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.0]),
        ),
        _node("CastLike", ["empty", "flat_rows"], ["zeros"]),
        _node("Unsqueeze", ["bags", "axis1"], ["bag_index"]),
        _node("ScatterND", ["zeros", "bag_index", "flat_rows"], ["summed"], reduction="add"),
    ]
    return [
        *_one_value_per_bag(),
        _if([single], "rows_one", general, "summed", "bagged"),
        _node("Flatten", ["bagged"], ["out"], axis=1),
    ]


def _window_table() -> list[NodeProto]:
    """`table` = windows [slots, Z], windows[s] = weight[s:s+Z]: each call gathers rows
    of Z floats, as plain tables do, instead of Z single elements per chunk. It costs
    Z times the array's memory, hence the export's size limit on this form."""
    return [
        _node("Size", ["weight"], ["array_size"]),
        _node("Sub", ["array_size", "chunk"], ["last_start"]),
        _node("Add", ["last_start", "step"], ["num_slots"]),
        _node("Range", ["zero", "num_slots", "step"], ["every_start"]),
        _node("Unsqueeze", ["every_start", "axis1"], ["window_starts"]),  # [S, 1]
        _node("Range", ["zero", "chunk", "step"], ["within"]),  # [Z]
        _node("Add", ["window_starts", "within"], ["window_index"]),  # [S, Z]
        _node("Gather", ["weight", "window_index"], ["table"], axis=0),
    ]


def _window_rows() -> list[NodeProto]:
    return [_node("Gather", ["table", "slots"], ["chunks"], axis=0)]  # [N, C, Z]


def _pair_table() -> list[NodeProto]:
    """`table` = pairs [R, 2Z]: pairs[r] = weight[rZ : rZ + 2Z] with the weight
    zero-padded to R + 1 rows of Z, R = |M| // Z: the pair (h // Z) of every start
    h <= |M| - Z exists. 2x the array's memory, not Z x."""
    return [
        _node("Size", ["weight"], ["array_size"]),
        _node("Mod", ["array_size", "chunk"], ["tail"], fmod=0),
        _node("Sub", ["chunk", "tail"], ["pad"]),  # in 1..Z: |M| + pad = (R + 1) Z
        _node("Unsqueeze", ["pad", "zero1"], ["pad1"]),
        _node("Concat", ["zero1", "pad1"], ["pads"], axis=0),
        _node("Pad", ["weight", "pads"], ["padded"]),
        _node("Unsqueeze", ["chunk", "zero1"], ["chunk1"]),
        _node("Concat", ["minus1", "chunk1"], ["aligned_shape"], axis=0),
        _node("Reshape", ["padded", "aligned_shape"], ["aligned"]),  # [R + 1, Z]
        _node("Slice", ["aligned", "zero1", "minus1"], ["firsts"]),
        _node("Slice", ["aligned", "one", "big"], ["seconds"]),
        _node("Concat", ["firsts", "seconds"], ["table"], axis=1),
    ]


def _pair_rows() -> list[NodeProto]:
    """Per chunk start h, the pair h // Z (one row gather of 2Z floats), then the Z-wide
    window at h mod Z of it (GatherElements).

    No int64 Div (element by element in ONNX Runtime): the float64 quotient is exact
    (h < 2**53, and a non-multiple of Z lies at least 1/Z below the next integer), so
    its Floor is h // Z. The windows are taken per value, from its C pairs side by side
    ([N, C*2Z] -> [N, dim]): ONNX Runtime's GatherElements pays a cost per row of its
    indices, N rows so, not N*C (measured: 6.0 to 4.0 ms a terabyte batch). A value's
    element indices c*2Z + h mod Z + (0..Z-1) are row c*Z + h mod Z of a [C*Z, Z]
    constant (folded at load), gathered whole."""
    return [
        _ref_const("dim", "dim"),
        _const("two", 2),
        _const("by_value", [0, -1]),
        _node("Cast", ["slots"], ["slots_f"], to=TensorProto.DOUBLE),
        _node("CastLike", ["chunk", "slots_f"], ["chunk_f"]),
        _node("Div", ["slots_f", "chunk_f"], ["quotient_f"]),
        _node("Floor", ["quotient_f"], ["pair_f"]),
        _node("Cast", ["pair_f"], ["pair"], to=TensorProto.INT64),  # [N, C]
        _node("Mul", ["pair", "chunk"], ["pair_start"]),
        _node("Sub", ["slots", "pair_start"], ["shift"]),  # [N, C], in 0..Z-1
        # the [C*Z, Z] constant: row c*Z + s holds c*2Z + s + (0..Z-1)
        _node("Div", ["dim", "chunk"], ["count"]),
        _node("Range", ["zero", "count", "step"], ["every_chunk"]),  # [C]
        _node("Mul", ["chunk", "two"], ["pair_width"]),
        _node("Mul", ["every_chunk", "pair_width"], ["pair_offsets"]),
        _const("axes12", [1, 2]),
        _node("Unsqueeze", ["pair_offsets", "axes12"], ["pair_offsets3"]),  # [C, 1, 1]
        _node("Range", ["zero", "chunk", "step"], ["within"]),
        _node("Unsqueeze", ["within", "axis1"], ["within1"]),
        _node("Add", ["within1", "within"], ["shifts64"]),  # [Z, Z]
        _node("Add", ["pair_offsets3", "shifts64"], ["windows64"]),  # [C, Z, Z]
        _node("Unsqueeze", ["chunk", "zero1"], ["chunk1"]),
        _node("Concat", ["minus1", "chunk1"], ["windows_shape"], axis=0),
        _node("Reshape", ["windows64", "windows_shape"], ["windows_by_row"]),
        _node("Cast", ["windows_by_row"], ["windows"], to=TensorProto.INT32),
        _node("Mul", ["every_chunk", "chunk"], ["chunk_rows"]),  # c*Z
        _node("Add", ["shift", "chunk_rows"], ["window_row"]),  # [N, C]
        _node("Gather", ["windows", "window_row"], ["select_by_chunk"], axis=0),  # [N, C, Z]
        _node("Reshape", ["select_by_chunk", "by_value"], ["select"]),  # [N, dim]
        # GatherND, not Gather: the same rows, measured 2x faster in ONNX Runtime 1.32
        _const("axis_last", [-1]),
        _node("Unsqueeze", ["pair", "axis_last"], ["pair_index"]),  # [N, C, 1]
        _node("GatherND", ["table", "pair_index"], ["runs_by_chunk"]),  # [N, C, 2Z]
        _node("Reshape", ["runs_by_chunk", "by_value"], ["runs"]),  # [N, C*2Z]
        _node("GatherElements", ["runs", "select"], ["chunks"], axis=1),  # [N, dim]
    ]


# How RobeTable lays out the weight and RobeRows gathers from it: same rows, different
# memory and speed (docs/export.md).
GATHERS = {"windows": (_window_table, _window_rows), "pairs": (_pair_table, _pair_rows)}


def _gather_consts() -> list[NodeProto]:
    return [_ref_const("chunk", "chunk"), _const("zero", 0), _const("step", 1), *_lookup_consts()]


def robe_table(opset: int, gather: str) -> FunctionProto:
    """`RobeTable(weight) -> table`: the weight laid out for RobeRows' gathers. It depends
    on the weight alone, so ONNX Runtime computes it once, when the session loads
    (constant folding), as long as it is computed outside the lookup's `If`: a table
    built inside each branch was folded once per branch (2x its memory)."""
    nodes = [*_gather_consts(), *GATHERS[gather][0]()]
    return _function(ROBE_TABLE, ["weight"], ["table"], nodes, ROBE_TABLE_ATTRIBUTES, opset)


def robe_rows(opset: int, gather: str) -> FunctionProto:
    """`RobeRows(table, slots [N, C]) -> rows`: rows[n, c] = the chunk weight[s:s+Z] at
    start slots[n, c], from RobeTable's `table` of the same `gather` form; `[N, C, Z]`,
    or `[N, dim]` (the same floats) where that is the form's last gather."""
    nodes = [*_gather_consts(), *GATHERS[gather][1]()]
    return _function(ROBE_ROWS, ["table", "slots"], ["chunks"], nodes, ROWS_ATTRIBUTES, opset)


def robe_lookup(opset: int) -> FunctionProto:
    """`RobeLookup`: slots -> rows (from the table, built once) -> bag sums."""
    nodes = [
        *_lookup_consts(),
        _node("Size", ["weight"], ["array_size"]),
        _call(ROBE_SLOTS, ["values", "offsets", "array_size"], ["slots"], ROBE_ATTRIBUTES),
        _call(ROBE_TABLE, ["weight"], ["table"], ROBE_TABLE_ATTRIBUTES),
        *_rows_bag_sum(_call(ROBE_ROWS, ["table", "slots"], ["rows"], ROWS_ATTRIBUTES)),
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
        *_rows_bag_sum(_node("Gather", ["weight", "row_ids"], ["rows"], axis=0)),
    ]
    return _function(
        TABLE_LOOKUP,
        ["weight", "values", "offsets", "sizes", "starts"],
        ["out"],
        nodes,
        TABLE_ATTRIBUTES,
        opset,
    )


def robe_functions(opset: int, gather: str) -> list[FunctionProto]:
    return [
        bag_ids(opset),
        robe_slots(opset),
        robe_table(opset, gather),
        robe_rows(opset, gather),
        robe_lookup(opset),
    ]


def table_functions(opset: int) -> list[FunctionProto]:
    return [bag_ids(opset), table_rows(opset), table_lookup(opset)]

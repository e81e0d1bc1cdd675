"""Atomic counters for numba kernels (LLVM's `atomicrmw` and atomic loads), which numba
lacks on CPU.

Threads running one lookup claim its parts from a shared counter inside the kernels,
without the GIL: a thread that wakes late takes what is left instead of holding up the
call (robe.ops.threads).
"""

from __future__ import annotations

from typing import Any

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


def _pointer(context: Any, builder: Any, array_type: Any, array: Any, index: Any) -> Any:
    ary = context.make_array(array_type)(context, builder, array)
    return cgutils.get_item_pointer(  # type: ignore[no-untyped-call]
        context, builder, array_type, ary, [index], wraparound=False
    )


@intrinsic
def _fetch_add(typingctx: Any, array: Any, index: Any, value: Any) -> Any:
    """fetch_add(array, i, v): array[i] += v atomically (sequentially consistent);
    returns the value before. array is int64."""
    if array.dtype != types.int64:
        return None
    sig = types.int64(array, index, types.int64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ptr = _pointer(context, builder, signature.args[0], args[0], args[1])
        return builder.atomic_rmw("add", ptr, args[2], "seq_cst")

    return sig, codegen


@intrinsic
def _load(typingctx: Any, array: Any, index: Any) -> Any:
    """load(array, i): array[i], read atomically (sequentially consistent). int64."""
    if array.dtype != types.int64:
        return None
    sig = types.int64(array, index)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ptr = _pointer(context, builder, signature.args[0], args[0], args[1])
        return builder.load_atomic(ptr, "seq_cst", 8)

    return sig, codegen


# Called from jitted code only, where numba types them; to mypy they are opaque.
fetch_add: Any = _fetch_add
load: Any = _load

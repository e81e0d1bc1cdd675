"""A software prefetch for numba kernels (LLVM's `llvm.prefetch`), which numba lacks.

The lookup hashes a block of values, prefetching each chunk's cache lines as soon as its
slot is known, then sums the block: the array reads of a whole block are in flight at
once instead of the handful the CPU finds on its own. Measured side by side on the
2-core dev VM under load: 2.7x less CPU time per forward call at dim 16, 3.3x at 128.
"""

from __future__ import annotations

from typing import Any

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def _prefetch(typingctx: Any, array: Any, index: Any) -> Any:
    """prefetch(array, i): ask for the cache line of array[i] (read, keep in all levels)."""
    sig = types.void(array, index)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        array_type = signature.args[0]
        ary = context.make_array(array_type)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(  # type: ignore[no-untyped-call]
            context, builder, array_type, ary, [args[1]], wraparound=False
        )
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32])
        fn = cgutils.get_or_insert_function(  # type: ignore[no-untyped-call]
            builder.module, fnty, "llvm.prefetch.p0"
        )
        # (address, rw = read, locality = 3: keep in every cache level, cache type = data)
        builder.call(fn, [ptr, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


# Called from jitted code only, where numba types it; to mypy it is opaque.
prefetch: Any = _prefetch

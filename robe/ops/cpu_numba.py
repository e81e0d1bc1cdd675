"""Fused ROBE-Z lookup kernels for CPU, compiled by numba (LLVM ships inside llvmlite's
wheel, so no system compiler is needed where this runs).

Forward, general bags, per group of 64 bags: hash each (value, chunk) once into a small
scratch of slot starts, prefetching the cache lines each start names, then sum the bags
by reading `Z` contiguous array elements per start. When every bag holds one value
(Criteo's layout, and every request the service builds) a fast path hashes a run of
values in one vectorised loop and copies their chunks, prefetching ahead
(_forward_singles, _forward_singles_wide). Nothing larger than a group's or a run's
starts is materialised (see robe.ops.prefetch for why the split pays). Chunks whose Z
is a multiple of 16 are copied as 16-element vectors (robe.ops.vectors).

Backward is the same walk adding into the gradient; threads split the bags, each adding
into a gradient of its own, summed at the end (for arrays small enough that the copies
are cheap).

Hash arithmetic (docs/hashing.md): h = b + a0*l0 + a1*l1 + a2*l2 + a3*t < 2**56 is
reduced mod P = 2**31 - 1 by folding (P is a Mersenne prime); `mod slots` goes through
a float64 reciprocal with an exact integer correction (h < 2**31, so the quotient is
off by at most one). Both give the reference's integers exactly.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
import torch

from robe.hashing import PRIME
from robe.ops import threads
from robe.ops.prefetch import prefetch
from robe.ops.vectors import VECTOR, add_vector, copy_vector

_LIMB0 = (1 << 21) - 1
_LIMB2 = (1 << 22) - 1
SUPPORTED_DTYPES = (torch.float32, torch.float64)
_BAG_GROUP = 64  # bags hashed (and prefetched) ahead of their sums: a few KB of scratch
PRIVATE_GRADIENT_MAX = 1 << 22  # array elements up to which backward threads add privately
_SINGLES_RUN = 512  # values hashed per run of _forward_singles
_SINGLES_AHEAD = 12  # how many values ahead its copies prefetch
_WIDE_RUN = 256  # values hashed per run of _forward_singles_wide
_WIDE_PREFETCH_LINES = 128  # cache lines _forward_singles_wide keeps requested ahead


@numba.njit(inline="always", cache=True)
def _reduce(h: int, slots: int, inv: float) -> int:
    """(h mod P) mod slots for 0 <= h < 2**59, without a division: branch-free selects,
    so that the loops calling it vectorise."""
    h = (h & PRIME) + (h >> 31)
    h = (h & PRIME) + (h >> 31)
    h = h - PRIME if h >= PRIME else h
    r = h - int(h * inv) * slots  # int(): truncation, as np.int64() would
    r = r + slots if r < 0 else r
    return r - slots if r >= slots else r


@numba.njit(inline="always", cache=True)
def _start(x: int, table: int, coeffs: Any, c: int, slots: int, inv: float) -> int:
    """Start slot of chunk `c` of key `x` in `table`; coeffs is [chunks, 5] (b, a0..a3)."""
    h = (
        coeffs[c, 0]
        + coeffs[c, 1] * (x & _LIMB0)
        + coeffs[c, 2] * ((x >> 21) & _LIMB0)
        + coeffs[c, 3] * ((x >> 42) & _LIMB2)
        + coeffs[c, 4] * table
    )
    return _reduce(h, slots, inv)


@numba.njit(inline="always", cache=True)
def _hash_bags(
    values: Any,
    offsets: Any,
    b0: int,
    b1: int,
    table: int,
    num_tables: int,
    coeffs: Any,
    slots: int,
    inv: float,
    starts: Any,
    target: Any,
    chunk: int,
) -> tuple[Any, int]:
    """Starts of every (value, chunk) of bags b0..b1 into `starts` (from values[offsets[b0]]
    on; a larger scratch when the group outgrows it), prefetching the lines of `target`
    each names; returns the scratch and the next bag's table."""
    nc = coeffs.shape[0]
    v_base = offsets[b0]
    if (offsets[b1] - v_base) * nc > starts.shape[0]:
        starts = np.empty((offsets[b1] - v_base) * nc, np.int64)
    for bag in range(b0, b1):
        for v in range(offsets[bag], offsets[bag + 1]):
            x = values[v]
            for c in range(nc):
                s = _start(x, table, coeffs, c, slots, inv)
                starts[(v - v_base) * nc + c] = s
                prefetch(target, s)
                prefetch(target, s + chunk - 1)
        table += 1
        if table == num_tables:
            table = 0
    return starts, table


INVALID, BAGS, SINGLES = 0, 1, 2  # what _layout finds


@numba.njit(cache=True, nogil=True)
def _layout(offsets: Any, num_values: int) -> int:
    """INVALID unless offsets rise from 0 to num_values; SINGLES when offsets == 0..N
    (every bag holds one value, Criteo's layout); else BAGS. One pass without early
    exits, so that LLVM vectorises it (it runs on every call)."""
    n = offsets.shape[0]
    if n == 0 or offsets[0] != 0 or offsets[-1] != num_values:
        return INVALID
    shortest = 1  # the extreme bag lengths (a min/max reduction vectorises best)
    longest = 1
    for j in range(n - 1):
        length = offsets[j + 1] - offsets[j]
        shortest = min(shortest, length)
        longest = max(longest, length)
    if shortest < 0:
        return INVALID
    return SINGLES if shortest == 1 and longest == 1 else BAGS


@numba.njit(inline="always", cache=True)
def _copy_chunk(out: Any, row: int, col: int, weight: Any, s: int, chunk: int) -> None:
    """out[row, col:col+chunk] = weight[s:s+chunk], in vectors when chunk is a multiple
    of VECTOR."""
    if chunk % VECTOR == 0:
        for k in range(0, chunk, VECTOR):
            copy_vector(out, (row, col + k), weight, s + k)
    else:
        for z in range(chunk):
            out[row, col + z] = weight[s + z]


@numba.njit(inline="always", cache=True)
def _add_chunk(out: Any, row: int, col: int, weight: Any, s: int, chunk: int) -> None:
    """out[row, col:col+chunk] += weight[s:s+chunk], as _copy_chunk."""
    if chunk % VECTOR == 0:
        for k in range(0, chunk, VECTOR):
            add_vector(out, (row, col + k), weight, s + k)
    else:
        for z in range(chunk):
            out[row, col + z] += weight[s + z]


@numba.njit(inline="always", cache=True)
def _gather(weight: Any, s: int, out: Any, bag: int, col: int, chunk: int, first: bool) -> None:
    """out[bag, col:col+chunk] (=|+=) weight[s:s+chunk]."""
    if first:
        _copy_chunk(out, bag, col, weight, s, chunk)
    else:
        _add_chunk(out, bag, col, weight, s, chunk)


@numba.njit(inline="always", cache=True)
def _sum_bags(
    weight: Any, starts: Any, offsets: Any, b0: int, b1: int, nc: int, chunk: int, out: Any
) -> None:
    """out[bag] = the sum of its values' chunks, for bags b0..b1 whose `nc` starts per
    value are in `starts` (from values[offsets[b0]] on); an empty bag is zeros."""
    v_base = offsets[b0]
    for bag in range(b0, b1):
        v0 = offsets[bag]
        v1 = offsets[bag + 1]
        if v0 == v1:
            out[bag, :] = 0
        for v in range(v0, v1):
            for c in range(nc):
                s = starts[(v - v_base) * nc + c]
                _gather(weight, s, out, bag, c * chunk, chunk, v == v0)


@numba.njit(cache=True, nogil=True)
def _forward(
    weight: Any,
    values: Any,
    offsets: Any,
    parts: Any,
    num_tables: int,
    chunk: int,
    coeffs: Any,
    out: Any,
) -> None:
    slots = weight.shape[0] - chunk + 1
    inv = 1.0 / slots
    nc = coeffs.shape[0]
    starts = np.empty(4 * _BAG_GROUP * nc, np.int64)
    while True:  # the parts this thread claims (robe.ops.threads)
        bag_lo, bag_hi = threads.claim(parts)
        if bag_lo == bag_hi:
            break
        table = bag_lo % num_tables  # then counted, not divided, bag by bag
        for b0 in range(bag_lo, bag_hi, _BAG_GROUP):
            b1 = min(b0 + _BAG_GROUP, bag_hi)
            # Hash the group, prefetching both cache lines a chunk may span...
            starts, table = _hash_bags(
                values,
                offsets,
                b0,
                b1,
                table,
                num_tables,
                coeffs,
                slots,
                inv,
                starts,
                weight,
                chunk,
            )
            # ...then sum its bags, by which time the lines are arriving.
            _sum_bags(weight, starts, offsets, b0, b1, nc, chunk, out)
        threads.finish(parts)


@numba.njit(cache=True, nogil=True)
def _forward_one_chunk(
    weight: Any,
    values: Any,
    offsets: Any,
    parts: Any,
    num_tables: int,
    chunk: int,
    coeffs: Any,
    out: Any,
) -> None:
    """_forward for dim == Z (Kaggle's 16 with the default Z): the group's hashes in one
    vectorised loop, then its prefetches, then its sums. 1.3x less CPU time than
    _forward at dim 16; with more chunks per value it measured slower, so _forward
    keeps those."""
    slots = weight.shape[0] - chunk + 1
    inv = 1.0 / slots
    table_terms = _table_terms(coeffs, num_tables, num_tables)[0]
    terms = np.empty(4 * _BAG_GROUP, np.int64)
    starts = np.empty(4 * _BAG_GROUP, np.int64)
    while True:  # the parts this thread claims (robe.ops.threads)
        bag_lo, bag_hi = threads.claim(parts)
        if bag_lo == bag_hi:
            break
        table = bag_lo % num_tables
        for b0 in range(bag_lo, bag_hi, _BAG_GROUP):
            b1 = min(b0 + _BAG_GROUP, bag_hi)
            v_base = offsets[b0]
            n = offsets[b1] - v_base
            if n > terms.shape[0]:
                terms = np.empty(n, np.int64)
                starts = np.empty(n, np.int64)
            for bag in range(b0, b1):
                for v in range(offsets[bag], offsets[bag + 1]):
                    terms[v - v_base] = table_terms[table]
                table += 1
                if table == num_tables:
                    table = 0
            _hash_run(values[v_base : v_base + n], terms, coeffs, 0, slots, inv, starts)
            for i in range(n):
                prefetch(weight, starts[i])
                prefetch(weight, starts[i] + chunk - 1)
            _sum_bags(weight, starts, offsets, b0, b1, 1, chunk, out)
        threads.finish(parts)


@numba.njit(cache=True, nogil=True)
def _table_terms(coeffs: Any, num_tables: int, length: int) -> Any:
    """terms[c, j] = b_c + a3_c * (j mod num_tables): the hash's constant and table terms
    for value j of a batch-major run of one-value bags that starts at table 0."""
    terms = np.empty((coeffs.shape[0], length), np.int64)
    for c in range(coeffs.shape[0]):
        for j in range(length):
            terms[c, j] = coeffs[c, 0] + coeffs[c, 4] * (j % num_tables)
    return terms


@numba.njit(inline="always", cache=True)
def _hash_run(run: Any, terms: Any, coeffs: Any, c: int, slots: int, inv: float, out: Any) -> None:
    """out[i] = start of chunk `c` of run[i], whose constant and table terms are terms[i]
    (see _table_terms). A flat loop, which LLVM vectorises (64-bit multiplies and float
    conversions are AVX-512 instructions). `run` is a slice of the values, indexed from
    0: indexed as values[v0 + i], numba's negative-index wraparound (v0 + i might be
    negative, as far as LLVM knows) turned the loads into gathers, and the loop took
    1.9x the time (Kaggle shape, batch 4096)."""
    a0, a1, a2 = coeffs[c, 1], coeffs[c, 2], coeffs[c, 3]
    for i in range(run.shape[0]):
        x = run[i]
        h = terms[i] + a0 * (x & _LIMB0) + a1 * ((x >> 21) & _LIMB0) + a2 * ((x >> 42) & _LIMB2)
        out[i] = _reduce(h, slots, inv)


@numba.njit(cache=True, nogil=True)
def _forward_singles(
    weight: Any,
    values: Any,
    parts: Any,
    num_tables: int,
    chunk: int,
    coeffs: Any,
    out: Any,
) -> None:
    """_forward when every bag holds exactly one value (offsets = 0..N, Criteo's case)
    and one chunk makes a row (dim == Z, the Kaggle shape): a run of values is hashed in
    one vectorised loop, then copied, each copy prefetching the value _SINGLES_AHEAD
    places on. Written for one chunk, not as _forward_singles_wide with nc = 1: the
    chunk loop there cost 1.5x at this shape."""
    slots = weight.shape[0] - chunk + 1
    inv = 1.0 / slots
    terms = _table_terms(coeffs, num_tables, _SINGLES_RUN + num_tables)
    starts = np.empty(_SINGLES_RUN, np.int64)
    while True:  # the parts this thread claims (robe.ops.threads)
        bag_lo, bag_hi = threads.claim(parts)
        if bag_lo == bag_hi:
            break
        for b0 in range(bag_lo, bag_hi, _SINGLES_RUN):
            n = min(_SINGLES_RUN, bag_hi - b0)
            _hash_run(
                values[b0 : b0 + n], terms[0, b0 % num_tables :], coeffs, 0, slots, inv, starts
            )
            ahead = min(_SINGLES_AHEAD, n)
            for i in range(n - ahead):  # the loop is split so that it holds no branch
                prefetch(weight, starts[i + ahead])
                prefetch(weight, starts[i + ahead] + chunk - 1)
                _copy_chunk(out, b0 + i, 0, weight, starts[i], chunk)
            for i in range(n - ahead, n):
                _copy_chunk(out, b0 + i, 0, weight, starts[i], chunk)
        threads.finish(parts)


@numba.njit(inline="always", cache=True)
def _prefetch_value(weight: Any, starts: Any, i: int, chunk: int) -> None:
    """Ask for both cache lines of every chunk of value i (starts is [chunks, values])."""
    for c in range(starts.shape[0]):
        prefetch(weight, starts[c, i])
        prefetch(weight, starts[c, i] + chunk - 1)


@numba.njit(cache=True, nogil=True)
def _forward_singles_wide(
    weight: Any,
    values: Any,
    parts: Any,
    num_tables: int,
    chunk: int,
    coeffs: Any,
    out: Any,
) -> None:
    """_forward_singles for several chunks per value (dim > Z, the terabyte shape's 8):
    a run of values is hashed, every chunk, then copied with prefetches a fixed number
    of cache lines ahead. Pipelining whole groups of 64 values (the design before) put
    thousands of lines in flight at 16 per value, more than the CPU keeps track of:
    measured 1.4x slower on the 96 MB terabyte-shape array."""
    slots = weight.shape[0] - chunk + 1
    inv = 1.0 / slots
    nc = coeffs.shape[0]
    terms = _table_terms(coeffs, num_tables, _WIDE_RUN + num_tables)
    starts = np.empty((nc, _WIDE_RUN), np.int64)
    ahead = max(1, _WIDE_PREFETCH_LINES // (2 * nc))
    while True:  # the parts this thread claims (robe.ops.threads)
        bag_lo, bag_hi = threads.claim(parts)
        if bag_lo == bag_hi:
            break
        for b0 in range(bag_lo, bag_hi, _WIDE_RUN):
            n = min(_WIDE_RUN, bag_hi - b0)
            first = b0 % num_tables
            for c in range(nc):
                _hash_run(values[b0 : b0 + n], terms[c, first:], coeffs, c, slots, inv, starts[c])
            for i in range(min(ahead, n)):
                _prefetch_value(weight, starts, i, chunk)
            for i in range(n):
                if i + ahead < n:
                    _prefetch_value(weight, starts, i + ahead, chunk)
                for c in range(nc):
                    _copy_chunk(out, b0 + i, c * chunk, weight, starts[c, i], chunk)
        threads.finish(parts)


@numba.njit(cache=True, nogil=True)
def _backward(
    grad: Any,
    values: Any,
    offsets: Any,
    bag_lo: int,
    bag_hi: int,
    num_tables: int,
    chunk: int,
    coeffs: Any,
    out: Any,
) -> None:
    """The gradient of bags [bag_lo, bag_hi) into `out` (zeroed first): the forward's
    walk, adding instead of reading."""
    out[:] = 0
    slots = out.shape[0] - chunk + 1
    inv = 1.0 / slots
    nc = coeffs.shape[0]
    starts = np.empty(4 * _BAG_GROUP * nc, np.int64)
    table = bag_lo % num_tables
    for b0 in range(bag_lo, bag_hi, _BAG_GROUP):
        b1 = min(b0 + _BAG_GROUP, bag_hi)
        v_base = offsets[b0]
        starts, table = _hash_bags(
            values, offsets, b0, b1, table, num_tables, coeffs, slots, inv, starts, out, chunk
        )
        for bag in range(b0, b1):
            for v in range(offsets[bag], offsets[bag + 1]):
                for c in range(nc):
                    s = starts[(v - v_base) * nc + c]
                    col = c * chunk
                    if chunk % VECTOR == 0:
                        for k in range(0, chunk, VECTOR):
                            add_vector(out, s + k, grad, (bag, col + k))
                    else:
                        for k in range(chunk):
                            out[s + k] += grad[bag, col + k]


@numba.njit(cache=True, nogil=True)
def _slot_table(
    values: Any,
    offsets: Any,
    parts: Any,
    num_tables: int,
    array_slots: int,
    coeffs: Any,
    out: Any,
) -> None:
    inv = 1.0 / array_slots
    while True:  # the parts this thread claims (robe.ops.threads)
        bag_lo, bag_hi = threads.claim(parts)
        if bag_lo == bag_hi:
            break
        table = bag_lo % num_tables
        for bag in range(bag_lo, bag_hi):
            for v in range(offsets[bag], offsets[bag + 1]):
                x = values[v]
                for c in range(coeffs.shape[0]):
                    out[v, c] = _start(x, table, coeffs, c, array_slots, inv)
            table += 1
            if table == num_tables:
                table = 0
        threads.finish(parts)


def _check_layout(array_size: int, dim: int, chunk: int) -> None:
    # Unchecked kernels: a layout that would index outside the array stops here.
    if chunk <= 0 or dim % chunk:
        raise ValueError(f"chunk Z={chunk} must be positive and divide dim {dim}")
    if array_size < chunk:
        raise ValueError(f"ROBE array size {array_size} is smaller than the chunk Z={chunk}")


def _coeffs(coeffs: list[int], num_chunks: int) -> npt.NDArray[np.int64]:
    """HashParams.coefficients as the kernels read them: [chunks, 5] of (b, a0, a1, a2, a3)."""
    if len(coeffs) != 5 * num_chunks:
        raise ValueError(f"{len(coeffs)} hash coefficients for {num_chunks} chunks (need 5 each)")
    return np.asarray(coeffs, dtype=np.int64).reshape(num_chunks, 5)


_ALIGN = 64  # bytes: a cache line, and one Z = 16 float32 chunk


def _empty(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised CPU tensor whose memory numpy allocated, starting on a cache line.

    numpy asks Linux for transparent huge pages on large arrays, so first touching a
    [4096*26, 128] output faults 2 MB pages, not 4 KB ones (measured 3 ms against 14 ms
    to fill 54 MB). numpy aligns to 16 bytes only; at dim 16 a row is one 64-byte vector
    store, which then straddles two cache lines (writing the Kaggle-shape output took
    1.25x as long), hence the slice to the next line."""
    np_dtype = np.dtype(np.float32 if dtype == torch.float32 else np.float64)
    nbytes = math.prod(shape) * np_dtype.itemsize
    raw = np.empty(nbytes + _ALIGN, dtype=np.uint8)
    skip = -raw.ctypes.data % _ALIGN
    return torch.from_numpy(raw[skip : skip + nbytes].view(np_dtype).reshape(shape))


def _np(t: torch.Tensor) -> Any:
    return t.detach().contiguous().numpy()


def _checked(values: torch.Tensor, offsets: torch.Tensor) -> tuple[Any, Any, int]:
    """values and offsets as numpy arrays, and their layout (BAGS or SINGLES)."""
    vals, offs = _np(values), _np(offsets)
    layout = _layout(offs, vals.shape[0])
    # The kernels run without bounds checks: a bad layout must stop here, not fault.
    if layout == INVALID:
        raise ValueError(f"offsets must rise from 0 to the number of values ({vals.shape[0]})")
    return vals, offs, layout


def lookup(
    weight: torch.Tensor,
    values: torch.Tensor,
    offsets: torch.Tensor,
    num_tables: int,
    dim: int,
    chunk: int,
    coeffs: list[int],
) -> torch.Tensor:
    """Same contract as robe.ops.reference.lookup, for float32/float64 CPU tensors."""
    _check_layout(weight.numel(), dim, chunk)
    vals, offs, layout = _checked(values, offsets)
    out = _empty((offs.shape[0] - 1, dim), weight.dtype)
    w, o = _np(weight), out.numpy()
    co = _coeffs(coeffs, dim // chunk)
    parts = threads.plan(out.shape[0], vals.shape[0] * dim)
    if layout == SINGLES:  # offsets are 0..N: the fast paths do not read them
        singles = _forward_singles if dim == chunk else _forward_singles_wide

        def kernel() -> None:
            singles(w, vals, parts, num_tables, chunk, co, o)
    else:
        bags = _forward_one_chunk if dim == chunk else _forward

        def kernel() -> None:
            bags(w, vals, offs, parts, num_tables, chunk, co, o)

    threads.run_claimed(parts, kernel)
    return out


def slots(
    values: torch.Tensor,
    offsets: torch.Tensor,
    num_tables: int,
    num_chunks: int,
    array_slots: int,
    coeffs: list[int],
) -> torch.Tensor:
    """Chunk start slots per value, [N, num_chunks] int64, as robe.ops.reference.slots."""
    vals, offs, _ = _checked(values, offsets)
    out = np.empty((vals.shape[0], num_chunks), dtype=np.int64)
    co = _coeffs(coeffs, num_chunks)
    parts = threads.plan(offs.shape[0] - 1, vals.shape[0] * num_chunks)
    threads.run_claimed(
        parts, lambda: _slot_table(vals, offs, parts, num_tables, array_slots, co, out)
    )
    return torch.from_numpy(out)


def lookup_backward(
    grad: torch.Tensor,
    values: torch.Tensor,
    offsets: torch.Tensor,
    array_size: int,
    num_tables: int,
    dim: int,
    chunk: int,
    coeffs: list[int],
) -> torch.Tensor:
    """Gradient of `lookup` with respect to the array, [array_size].

    With several threads and an array of at most PRIVATE_GRADIENT_MAX elements, each
    thread adds a share of the bags into a gradient of its own and the copies are summed
    (the Kaggle preset's 2.2 MB array). A larger array is walked by one thread: there the
    copies cost more memory traffic than the walk they split."""
    _check_layout(array_size, dim, chunk)
    vals, offs, _ = _checked(values, offsets)
    out = _empty((array_size,), grad.dtype)
    g, o = _np(grad), out.numpy()
    co = _coeffs(coeffs, dim // chunk)
    num_bags = offs.shape[0] - 1
    parts = threads.private_parts(vals.shape[0] * dim)
    if parts == 1 or array_size > PRIVATE_GRADIENT_MAX:
        _backward(g, vals, offs, 0, num_bags, num_tables, chunk, co, o)
        return out
    copies = [o] + [np.empty_like(o) for _ in range(parts - 1)]
    bounds = [num_bags * i // parts for i in range(parts + 1)]

    def part(i: int) -> None:
        _backward(g, vals, offs, bounds[i], bounds[i + 1], num_tables, chunk, co, copies[i])

    threads.run_parts(parts, part)
    for copy in copies[1:]:
        o += copy  # part order, whichever thread ran a part: the same sums every call
    return out

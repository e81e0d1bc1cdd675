"""Property tests of the ROBE-Z hash (docs/hashing.md)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

from robe.hashing import (
    DEFAULT_SEED,
    PRIME,
    HashParams,
    RobeLayout,
    limbs,
    slots_numpy,
    splitmix64,
)
from robe.ops import reference

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
EXTREMES = [0, 1, -1, 2**63 - 1, -(2**63), 2**32 - 1, 2**32, -(2**31), 2**21, 2**42 - 1]


def _python_slot(x: int, t: int, c: int, layout: RobeLayout, params: HashParams) -> int:
    """Straight from the spec with Python's unbounded integers."""
    u = x % 2**64
    l0, l1, l2 = u & (2**21 - 1), (u >> 21) & (2**21 - 1), (u >> 42) & (2**22 - 1)
    b, a0, a1, a2, a3 = params.table[c]
    return ((b + a0 * l0 + a1 * l1 + a2 * l2 + a3 * t) % PRIME) % layout.slots


def test_default_coefficients_are_the_documented_ones():
    params = HashParams.from_seed(1)
    assert params.table[0] == (166567595, 735096100, 1028132725, 1840573811, 1379849661)
    assert params.seed == DEFAULT_SEED


def test_splitmix64_matches_reference_vector():
    # First outputs of SplitMix64 seeded with 0 (Vigna's reference implementation).
    state, out = splitmix64(0)
    assert out == 0xE220A8397B1DCDAF
    _, out = splitmix64(state)
    assert out == 0x6E789E6AA1B965F4


@settings(max_examples=300, deadline=None)
@given(
    keys=st.lists(INT64, min_size=1, max_size=50),
    table=st.integers(0, 2**22 - 1),
    size=st.integers(16, 2**31 - 2),
    seed=st.integers(0, 2**64 - 1),
)
def test_slots_match_unbounded_arithmetic_and_stay_in_range(keys, table, size, seed):
    layout = RobeLayout(size=size, dim=16, chunk=4)
    params = HashParams.from_seed(layout.num_chunks, seed)
    arr = np.array(keys, dtype=np.int64)
    got = slots_numpy(arr, np.full_like(arr, table), layout, params)
    assert got.shape == (len(keys), 4)
    assert got.min() >= 0 and got.max() <= size - layout.chunk
    for i, x in enumerate(keys):
        assert got[i].tolist() == [_python_slot(x, table, c, layout, params) for c in range(4)]


@settings(max_examples=200, deadline=None)
@given(keys=st.lists(INT64, min_size=1, max_size=50))
def test_torch_reference_is_bit_identical_to_numpy(keys):
    layout = RobeLayout(size=100_003, dim=32, chunk=8)
    params = HashParams.from_seed(layout.num_chunks)
    arr = np.array(keys + EXTREMES, dtype=np.int64)
    tables = np.arange(arr.size, dtype=np.int64) % 26
    want = slots_numpy(arr, tables, layout, params)
    got = reference.slots(
        torch.from_numpy(arr), torch.from_numpy(tables), 4, layout.slots, params.coefficients
    )
    np.testing.assert_array_equal(got.numpy(), want)


@given(INT64)
def test_limbs_are_a_bijection_of_the_bit_pattern(x):
    l0, l1, l2 = (int(v[0]) for v in limbs(np.array([x], dtype=np.int64)))
    assert 0 <= l0 < 2**21 and 0 <= l1 < 2**21 and 0 <= l2 < 2**22
    assert l0 | (l1 << 21) | (l2 << 42) == x % 2**64


def test_determinism_across_processes():
    code = (
        "import json, numpy as np; from robe.hashing import *; from robe.keys import value_key;"
        "k = np.array([value_key(v, hex_tokens=True)"
        " for v in [0, -1, 2**63-1, -2**63+1, '68fd1e64', 'abc', '']]);"
        "L = RobeLayout(540201, 16, 4); p = HashParams.from_seed(4);"
        "print(json.dumps(slots_numpy(k, np.arange(7), L, p).tolist()))"
    )
    runs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        for _ in range(2)
    ]
    first = json.loads(runs[0].stdout)
    assert first == json.loads(runs[1].stdout)
    from robe.keys import value_key

    keys = np.array(
        [
            value_key(v, hex_tokens=True)
            for v in [0, -1, 2**63 - 1, -(2**63) + 1, "68fd1e64", "abc", ""]
        ]
    )
    here = slots_numpy(keys, np.arange(7), RobeLayout(540201, 16, 4), HashParams.from_seed(4))
    assert first == here.tolist()


@pytest.mark.parametrize("keys", ["sequential", "criteo-like"])
def test_slots_are_used_uniformly(keys):
    """Chi-square goodness of fit of slot counts against the uniform distribution."""
    rng = np.random.default_rng(7)
    n, bins = 200_000, 1009
    if keys == "sequential":  # adversarially regular keys
        x = np.arange(n, dtype=np.int64) * 4096
    else:
        x = rng.integers(0, 2**32, n, dtype=np.int64)
    layout = RobeLayout(size=bins + 3, dim=8, chunk=4)
    params = HashParams.from_seed(layout.num_chunks)
    slots = slots_numpy(x, np.zeros_like(x), layout, params)
    for c in range(layout.num_chunks):
        counts = np.bincount(slots[:, c], minlength=layout.slots)
        assert chisquare(counts).pvalue > 1e-4


def test_chunks_of_one_value_collide_independently():
    """Two values colliding in chunk 0 should not collide in chunk 1 (per-chunk draws)."""
    layout = RobeLayout(size=1000, dim=8, chunk=4)
    params = HashParams.from_seed(2)
    x = np.arange(100_000, dtype=np.int64)
    s = slots_numpy(x, np.zeros_like(x), layout, params)
    first = s[:, 0]
    order = np.argsort(first, kind="stable")
    same0 = first[order][1:] == first[order][:-1]
    same1 = s[order, 1][1:] == s[order, 1][:-1]
    rate = same1[same0].mean()
    assert rate < 5 / layout.slots  # about 1/slots if independent, 1.0 if correlated


@pytest.mark.parametrize(
    ("size", "dim", "chunk"), [(10, 16, 3), (3, 16, 4), (2**32, 16, 16), (100, 0, 1)]
)
def test_bad_layouts_are_refused(size, dim, chunk):
    with pytest.raises(ValueError, match=r"chunk|size|dim|range"):
        RobeLayout(size, dim, chunk)


def test_bad_seeds_are_refused():
    with pytest.raises(ValueError, match="seed"):
        HashParams.from_seed(1, -1)
    with pytest.raises(ValueError, match="coefficients"):
        HashParams(table=((PRIME, 1, 1, 1, 1),), seed=0)

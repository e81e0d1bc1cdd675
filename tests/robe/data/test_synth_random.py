import numpy as np
import pytest

from robe.data.synth_random import (
    hashed_gaussian,
    rank_decay,
    salt,
    token32,
    zipf_ranks,
)


def test_zipf_ranks_stay_in_range_and_favour_the_head() -> None:
    ranks = zipf_ranks(np.random.default_rng(0), 50_000, 40_000_000, 1.1)
    assert ranks.min() >= 0
    assert ranks.max() < 40_000_000
    counts = np.bincount(ranks[ranks < 100], minlength=100)
    assert counts[0] > 5 * counts[20] > 0


def test_zipf_offset_flattens_the_head() -> None:
    plain = zipf_ranks(np.random.default_rng(0), 20_000, 1000, 1.1)
    flat = zipf_ranks(np.random.default_rng(0), 20_000, 1000, 1.1, offset=50.0)
    assert (flat == 0).mean() < (plain == 0).mean() / 5


def test_zipf_rejects_exponent_one() -> None:
    with pytest.raises(ValueError, match="exponent"):
        zipf_ranks(np.random.default_rng(0), 10, 10, 1.0)


def test_token32_is_a_bijection_that_depends_on_the_key() -> None:
    ranks = np.arange(1 << 16, dtype=np.int64)
    tokens = token32(salt(1, 2), ranks)
    assert np.unique(tokens).size == ranks.size
    assert not np.array_equal(tokens, token32(salt(1, 3), ranks))
    # Bijective on all 32 bits: the top of the range maps inside it, distinctly.
    top = np.array([0, (1 << 32) - 1], dtype=np.int64)
    assert np.unique(token32(salt(0), top)).size == 2


def test_hashed_values_are_pure_functions_of_key_and_rank() -> None:
    ranks = np.arange(100_000, dtype=np.int64)
    g = hashed_gaussian(salt(7), ranks)
    np.testing.assert_array_equal(g[[5, 9]], hashed_gaussian(salt(7), ranks[[5, 9]]))
    assert abs(g.mean()) < 0.02
    assert abs(g.std() - 1.0) < 0.02


def test_salt_distinguishes_its_parts() -> None:
    assert salt(1, 2) != salt(2, 1)
    assert salt(1, 2) == salt(1, 2)


def test_rank_decay_is_one_at_the_head_and_falls() -> None:
    d = rank_decay(np.array([0, 100, 10_000], dtype=np.int64), 100.0)
    assert d[0] == 1.0
    assert d[0] > d[1] > d[2] > 0

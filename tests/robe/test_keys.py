from __future__ import annotations

import hashlib

import numpy as np
import pytest

from robe.keys import MISSING_KEY, string_key, token_keys, value_key


def test_value_key_rules():
    assert value_key(10) == 10
    assert value_key(-(2**63)) == -(2**63)
    assert value_key("0000000a") == 10
    assert value_key("FFFFFFFF") == 2**32 - 1
    assert value_key("10") == string_key("10") != 10
    assert value_key(None) == MISSING_KEY == value_key("")
    digest = hashlib.blake2b(b"user-42", digest_size=8).digest()
    assert value_key("user-42") == int.from_bytes(digest, "little", signed=True)


@pytest.mark.parametrize("bad", [True, 2**63, -(2**63) - 1, 1.5, [1]])
def test_value_key_refuses(bad):
    with pytest.raises(ValueError, match="categorical value"):
        value_key(bad)


def test_token_keys_vectorised_matches_scalar():
    tokens = np.array(
        [b"68fd1e64", b"", b"80e26c9b", b"zzzzzzzz", b"0000000A", b"abc", b"123456789"],
        dtype="S9",
    ).reshape(7, 1)
    got = token_keys(tokens)
    want = [value_key(t.decode()) for t in tokens.reshape(-1)]
    assert got.reshape(-1).tolist() == want
    assert got.shape == (7, 1) and got.dtype == np.int64

from __future__ import annotations

import hashlib

import pytest

from robe.keys import MISSING_KEY, PAD_KEY, bytes_key, string_key, text_key, value_key


def blake(text: str) -> int:
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


@pytest.mark.parametrize("hex_tokens", [False, True])
def test_integers_and_their_decimal_text_share_a_key(hex_tokens):
    for number in (0, 196, -5, 2**63 - 1, -(2**63) + 1):
        assert value_key(number, hex_tokens=hex_tokens) == number
        assert value_key(str(number), hex_tokens=hex_tokens) == number
        assert text_key(str(number), hex_tokens=hex_tokens) == number


def test_non_canonical_decimal_text_is_hashed():
    for text in ("0196", "+5", " 196", "196.0", "-0", "9223372036854775808", "1e3"):
        assert value_key(text, hex_tokens=False) == blake(text)


def test_hex_only_where_the_feature_says_so():
    assert value_key("0000000a", hex_tokens=True) == 10
    assert value_key("FFFFFFFF", hex_tokens=True) == 2**32 - 1
    assert value_key("19970101", hex_tokens=True) == 0x19970101
    assert value_key("19970101", hex_tokens=False) == 19970101
    assert value_key("0000000a", hex_tokens=False) == blake("0000000a")


def test_strings_and_missing():
    assert value_key("user-42", hex_tokens=False) == blake("user-42") == string_key("user-42")
    assert value_key(None, hex_tokens=True) == MISSING_KEY == value_key("", hex_tokens=False)
    assert blake("") == MISSING_KEY
    assert bytes_key(b"\xff") == string_key(b"\xff".decode("utf-8", "surrogateescape"))


@pytest.mark.parametrize("bad", [True, 2**63, -(2**63), 1.5, [1]])
def test_value_key_refuses(bad):
    with pytest.raises(ValueError, match="categorical value"):
        value_key(bad, hex_tokens=False)


def test_pad_key_is_no_key():
    assert PAD_KEY == -(2**63)
    assert text_key(str(PAD_KEY), hex_tokens=False) != PAD_KEY

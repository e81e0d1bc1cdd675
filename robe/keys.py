"""Raw categorical values to 64-bit keys: the one key function of docs/hashing.md.

Training readers and the service both call `value_key` (or, for text, `text_key`), so
the JSON integer 196, the JSON string "196" and the file text 196 share a key. A key
is a signed int64; rules, in order:
- missing (None, the empty string) is `MISSING_KEY`, the hash of the empty string;
- a Python/JSON integer (bool excluded) in (-2**63, 2**63) is its own key;
- where the feature decodes hex (the Criteo schemas), a string of exactly 8 hex digits
  is that number, 0..2**32-1;
- a string that is the canonical decimal text of such an integer (an optional '-', no
  leading zeros, no '+', no spaces) is that integer;
- any other string is the first 8 bytes of BLAKE2b(utf-8 bytes, digest_size=8) read
  as a little-endian signed int64.
-2**63 is never a key: `PAD_KEY` marks the unused slots of multi-valued features.
Only the standard library: the ONNX serving path imports this without torch or numpy.
"""

from __future__ import annotations

import hashlib
import re

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
PAD_KEY = INT64_MIN

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_DECIMAL = re.compile(r"0|-?[1-9][0-9]{0,18}")


def bytes_key(raw: bytes) -> int:
    """BLAKE2b-64 of raw bytes, little-endian, signed (PAD_KEY itself moves up by one)."""
    digest = hashlib.blake2b(raw, digest_size=8).digest()
    key = int.from_bytes(digest, "little", signed=True)
    return key + 1 if key == PAD_KEY else key


def string_key(text: str) -> int:
    """The hash key of a string that no integer rule applies to."""
    return bytes_key(text.encode("utf-8", errors="surrogateescape"))


MISSING_KEY = string_key("")


def integer_key(value: int) -> int:
    if not INT64_MIN < value <= INT64_MAX:
        raise ValueError(f"categorical value {value} is outside the key range (-2**63, 2**63)")
    return value


def text_key(text: str, *, hex_tokens: bool) -> int:
    """The key of one field's text (a file cell or a JSON string)."""
    if hex_tokens and len(text) == 8 and all(c in _HEX_DIGITS for c in text):
        return int(text, 16)
    if _DECIMAL.fullmatch(text):
        number = int(text)
        if INT64_MIN < number <= INT64_MAX:
            return number
    return string_key(text)


def value_key(value: object, *, hex_tokens: bool) -> int:
    """The key of one raw value (int, str or None), per the rules in the module docstring."""
    if value is None:
        return MISSING_KEY
    if isinstance(value, bool):
        raise ValueError(f"categorical value must be an integer or a string, got {value!r}")
    if isinstance(value, int):
        return integer_key(value)
    if isinstance(value, str):
        return text_key(value, hex_tokens=hex_tokens)
    raise ValueError(f"categorical value must be an integer or a string, got {value!r}")

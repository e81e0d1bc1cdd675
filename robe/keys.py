"""Raw categorical values to 64-bit keys: the first step of docs/hashing.md.

A key is a signed int64. Rules, in order:
- a Python/JSON integer (bool excluded) in int64 range is its own key;
- a string of exactly 8 hexadecimal digits (a Criteo token) is that number, 0..2**32-1;
- any other string, the empty string (= missing) included, is the first 8 bytes of
  BLAKE2b(utf-8 bytes, digest_size=8) read as a little-endian signed int64.
The vectorised path for arrays of Criteo tokens lives here too, so readers and the
service share one definition. Only numpy and the standard library: the ONNX serving
path imports this without torch.
"""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")

# Byte -> nibble table for the vectorised hex decoder; 255 marks a non-hex byte.
_NIBBLE = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _NIBBLE[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _NIBBLE[_c] = 10 + _i
_NIBBLE.setflags(write=False)


def string_key(text: str) -> int:
    """The key of a string that is not a Criteo token (BLAKE2b-64, little-endian, signed)."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


MISSING_KEY = string_key("")


def value_key(value: object) -> int:
    """The key of one raw value (int or str), per the rules in the module docstring."""
    if isinstance(value, bool):
        raise ValueError(f"categorical value must be an integer or a string, got {value!r}")
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueError(f"categorical value {value} is outside the int64 range")
        return value
    if isinstance(value, str):
        if len(value) == 8 and all(c in _HEX_DIGITS for c in value):
            return int(value, 16)
        return string_key(value)
    if value is None:
        return MISSING_KEY
    raise ValueError(f"categorical value must be an integer or a string, got {value!r}")


def token_keys(tokens: npt.NDArray[np.bytes_]) -> npt.NDArray[np.int64]:
    """Keys of an array of byte-string tokens (any shape), vectorised for Criteo tokens.

    Tokens of exactly 8 hex digits decode in numpy; the rare others (empty = missing,
    or free text) fall back to `string_key` one by one.
    """
    flat = np.ascontiguousarray(tokens.reshape(-1)).astype("S8", copy=False)
    raw = flat.view(np.uint8).reshape(-1, 8)
    nibbles = _NIBBLE[raw]
    lengths = np.char.str_len(flat)
    ok = (lengths == 8) & (nibbles != 255).all(axis=1)
    # Byte strings longer than 8 were truncated by the S8 cast above; they go the slow way.
    if tokens.dtype.itemsize > 8:
        ok &= np.char.str_len(tokens.reshape(-1)) == 8
    weights = np.array([1 << (4 * (7 - i)) for i in range(8)], dtype=np.int64)
    keys = (nibbles.astype(np.int64) * weights).sum(axis=1)
    for i in np.flatnonzero(~ok):
        keys[i] = string_key(tokens.reshape(-1)[i].decode("utf-8", errors="surrogateescape"))
    return keys.reshape(tokens.shape)

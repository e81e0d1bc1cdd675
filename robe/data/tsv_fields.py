"""Column-wise decoding of TSV fields, given where each field ends in a byte buffer.

Both decoders load 8 bytes per field as one little-endian uint64 and work on whole
arrays of such words (SWAR: SIMD within a register), so a block of rows costs a few
dozen numpy operations, whatever its size. Fields off the fast path are flagged, not
guessed: the caller decodes those one by one.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

_LOW_NIBBLES = np.uint64(0x0F0F0F0F0F0F0F0F)
_HIGH_NIBBLES = np.uint64(0xF0F0F0F0F0F0F0F0)
_BIT4 = np.uint64(0x1010101010101010)
# KEEP_TOP[n]: the top n bytes of a word, where the last n characters before the end sit.
_KEEP_TOP = np.array([0] + [(2**64 - 1) ^ (2 ** (8 * (8 - n)) - 1) for n in range(1, 9)], np.uint64)
_MINUS = ord("-")

# Byte -> nibble table for the hex decoder; 255 marks a non-hex byte.
_NIBBLE = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _NIBBLE[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _NIBBLE[_c] = 10 + _i
_NIBBLE.setflags(write=False)


def words_ending_at(buf: npt.NDArray[np.uint8], ends: I64) -> U64:
    """The 8 bytes before each end (exclusive) as a little-endian uint64; needs ends >= 8."""
    windows = np.lib.stride_tricks.sliding_window_view(buf, 8)
    return windows[ends - 8].view("<u8")[..., 0]


def decode_integers(
    buf: npt.NDArray[np.uint8], ends: I64, lengths: I64
) -> tuple[npt.NDArray[np.float64], Bools]:
    """Decimal integers of up to 16 characters, '-' included; (values, ok). Empty is NaN."""
    shape = ends.shape
    ends, lengths = ends.reshape(-1), lengths.reshape(-1)
    value, ok, negative = _decode_word(words_ending_at(buf, ends), lengths)
    ok &= lengths <= 16
    # Longer numbers (rare in click logs): the 8 characters before the last 8, combined.
    long = np.flatnonzero((lengths > 8) & ok)
    if len(long):
        high, high_ok, high_negative = _decode_word(
            words_ending_at(buf, ends[long] - 8), lengths[long] - 8, bare_sign=True
        )
        value[long] += high * 100_000_000
        ok[long] &= high_ok
        negative[long] = high_negative
    signed = np.where(negative, -value, value).astype(np.float64)
    empty = lengths == 0
    signed[empty] = np.nan
    return signed.reshape(shape), (ok | empty).reshape(shape)


def _decode_word(words: U64, lengths: I64, bare_sign: bool = False) -> tuple[I64, Bools, Bools]:
    """Value, ok and sign of the last min(length, 8) characters; '-' only as the first.

    `bare_sign` accepts a lone '-' (as 0, negative): the sign of a longer number's high part.
    """
    tail = np.minimum(lengths, 8)
    first_shift = (np.uint64(8) * (8 - np.maximum(tail, 1))).astype(np.uint64)
    first = (words >> first_shift) & np.uint64(0xFF)
    negative = (first == _MINUS) & (tail == lengths) & ((tail >= 2) | bare_sign)
    keep = _KEEP_TOP[tail - negative]
    x = words & keep
    # Every kept byte must be '0'..'9': high nibble 3, low nibble at most 9 (9 + 6 < 16).
    wrong_high = (x & _HIGH_NIBBLES) ^ (np.uint64(0x3030303030303030) & keep)
    wrong_low = ((x & _LOW_NIBBLES) + np.uint64(0x0606060606060606)) & _BIT4
    ok = ((wrong_high | wrong_low) == 0) & (lengths > 0)
    # Combine pairs, then quads, then octets; the first character is the most significant.
    v = x & _LOW_NIBBLES
    v = (v * np.uint64(10) + (v >> np.uint64(8))) & np.uint64(0x00FF00FF00FF00FF)
    v = (v * np.uint64(100) + (v >> np.uint64(16))) & np.uint64(0x0000FFFF0000FFFF)
    v = (v * np.uint64(10000) + (v >> np.uint64(32))) & np.uint64(0xFFFFFFFF)
    return v.astype(np.int64), ok, negative


def decode_tokens(buf: npt.NDArray[np.uint8], starts: I64, lengths: I64) -> tuple[I64, Bools]:
    """Tokens of exactly 8 hex digits (either case) to 0..2**32-1; (values, ok)."""
    windows = np.lib.stride_tricks.sliding_window_view(buf, 8)
    nibbles = _NIBBLE[windows[starts]]
    # A non-hex byte maps to 255, the only nibble value with its high bit set.
    high_bits = nibbles.view(np.uint64)[..., 0] & np.uint64(0x8080808080808080)
    ok = (lengths == 8) & (high_bits == 0)
    # Two nibbles per byte, big-endian: the 4 bytes read as one unsigned 32-bit number.
    packed = (nibbles[..., 0::2] << 4) | (nibbles[..., 1::2] & 15)
    return np.ascontiguousarray(packed).view(">u4")[..., 0].astype(np.int64), ok

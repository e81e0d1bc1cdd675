import re

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from robe.data.tsv_fields import decode_integers, decode_tokens

PAD = 32


def fields_buffer(fields: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fields joined by tabs inside zero padding; returns (buf, starts, ends)."""
    block = b"".join(f + b"\t" for f in fields)
    buf = np.zeros(PAD + len(block) + PAD, dtype=np.uint8)
    buf[PAD : PAD + len(block)] = np.frombuffer(block, dtype=np.uint8)
    lengths = np.array([len(f) for f in fields], dtype=np.int64)
    starts = PAD + np.concatenate(([0], np.cumsum(lengths + 1)[:-1])).astype(np.int64)
    return buf, starts, starts + lengths


def check_integers(fields: list[str]) -> None:
    buf, starts, ends = fields_buffer([f.encode("utf-8") for f in fields])
    values, ok = decode_integers(buf, ends, ends - starts)
    for text, value, good in zip(fields, values.tolist(), ok.tolist(), strict=True):
        expect = text == "" or (re.fullmatch(r"-?[0-9]+", text) is not None and len(text) <= 16)
        assert good == expect, text
        if text == "":
            assert np.isnan(value)
        elif good:
            assert value == float(int(text)), text


def test_integers_edge_cases() -> None:
    check_integers(
        ["", "0", "-0", "7", "-1", "00012", "12345678", "-1234567", "-12345678", "123456789",
         "-123456789", "9999999999999999", "-999999999999999", "12345678901234567", "-", "--1",
         "1-", "1.5", "a", " 1", "12345678x", "x12345678", "1234567-1", "٣"]
    )  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet="0123456789-x.", max_size=18), min_size=1, max_size=30))
def test_integers_match_python(fields: list[str]) -> None:
    check_integers(fields)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-(10**15), 10**16 - 1), min_size=1, max_size=30))
def test_integers_round_trip(numbers: list[int]) -> None:
    check_integers([str(n) for n in numbers])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet="0123456789abcdefABCDEFg-/:@`G ", max_size=9), min_size=1))
def test_tokens_match_python(fields: list[str]) -> None:
    buf, starts, ends = fields_buffer([f.encode() for f in fields])
    values, ok = decode_tokens(buf, starts, ends - starts)
    for text, value, good in zip(fields, values.tolist(), ok.tolist(), strict=True):
        expect = len(text) == 8 and re.fullmatch(r"[0-9a-fA-F]{8}", text) is not None
        assert good == expect, text
        if good:
            assert value == int(text, 16)

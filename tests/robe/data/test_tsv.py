import hashlib
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robe.data.tsv import parse_block
from robe.keys import MISSING_KEY, value_key
from robe.schema import BUILTIN_SCHEMAS
from tests.robe.data.criteo_lines import line

KAGGLE = BUILTIN_SCHEMAS["criteo-kaggle"]


def parse(*lines: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, str]]]:
    block = "".join(text + "\n" for text in lines).encode()
    parsed, bad = parse_block(block, KAGGLE)
    return parsed.labels, parsed.dense_raw, parsed.keys, [(b.index, b.reason) for b in bad]


def test_tokens_follow_the_keys_rules() -> None:
    tokens = ["68fd1e64", "68FD1E64", "", "hello", "68fd1e6", "68fd1e645", "0000000g", "ffffffff"]
    sparse = tokens + ["00000000"] * (26 - len(tokens))
    _, _, keys, bad = parse(line("1", sparse=sparse))
    assert bad == []
    assert keys[0].tolist() == [value_key(t, hex_tokens=True) for t in sparse]
    assert keys[0, 2] == MISSING_KEY
    assert keys[0, 7] == 0xFFFFFFFF


def test_invalid_utf8_token_hashes_its_bytes() -> None:
    raw = b"\xff\xfe"
    block = line("0", sparse=["x"] * 26).encode().replace(b"x", raw, 1) + b"\n"
    parsed, bad = parse_block(block, KAGGLE)
    assert bad == []
    digest = hashlib.blake2b(raw, digest_size=8).digest()
    assert parsed.keys[0, 0] == int.from_bytes(digest, "little", signed=True)
    assert parsed.keys[0, 1] == value_key("x", hex_tokens=True)


def test_dense_values() -> None:
    dense = ["", "-1", "-12", "0", "123456789", "12345678901234567890", "1.5", "2e3", "-.5"]
    dense += ["7"] * (13 - len(dense))
    _, raw, _, bad = parse(line("0", dense=dense))
    assert bad == []
    assert np.isnan(raw[0, 0])
    assert raw[0, 1:9].tolist() == [-1, -12, 0, 123456789, 12345678901234567890.0, 1.5, 2000, -0.5]


NOT_NUMBERS = ["abc", "-", "--1", "1-2", "nan", "inf", " 1", "1_000", "0x10", "٣", "1e999"]


@pytest.mark.parametrize("value", NOT_NUMBERS)
def test_dense_rejects(value: str) -> None:
    _, _, _, bad = parse(line("0", dense=["1"] * 6 + [value] + ["1"] * 6))
    assert bad == [(0, f"I7: not a number: {value!r}")]


@pytest.mark.parametrize("label", ["", "2", "01", "1.0", "-1", "a"])
def test_label_rejects(label: str) -> None:
    _, _, _, bad = parse(line(label))
    assert bad == [(0, f"label must be 0 or 1, got {label!r}")]


def test_good_rows_survive_bad_neighbours() -> None:
    labels, raw, keys, bad = parse(line("1"), "x\ty", line("0", dense=["q"] * 13), line("0"))
    assert bad == [(1, "expected 40 fields, got 2"), (2, "I1: not a number: 'q'")]
    assert labels.tolist() == [1.0, 0.0]
    assert raw.shape == (2, 13)
    assert keys.shape == (2, 26)


def test_first_problem_of_a_line_is_reported() -> None:
    _, _, _, bad = parse(line("5", dense=["z"] * 13))
    assert bad == [(0, "label must be 0 or 1, got '5'")]


def test_crlf_lines() -> None:
    block = (line("1") + "\r\n" + line("0") + "\r\n").encode()
    parsed, bad = parse_block(block, KAGGLE)
    assert bad == []
    assert parsed.labels.tolist() == [1.0, 0.0]
    assert parsed.keys[0, 25] == value_key(f"{25:08x}", hex_tokens=True)


def test_needs_whole_lines() -> None:
    with pytest.raises(ValueError, match="whole lines"):
        parse_block(line("1").encode(), KAGGLE)


def reference_line(text: str) -> tuple[float, list[float], list[int]] | str:
    """What one line should parse to, field by field in Python, or its error reason."""
    fields = text.split("\t")
    if text == "":
        return "empty line"
    if len(fields) != 40:
        return f"expected 40 fields, got {len(fields)}"
    if fields[0] not in ("0", "1"):
        return f"label must be 0 or 1, got {fields[0]!r}"
    dense = []
    for i, value in enumerate(fields[1:14]):
        if value and not re.fullmatch(r"-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?", value):
            return f"I{i + 1}: not a number: {value!r}"
        number = float(value) if value else np.nan
        if not (value == "" or math.isfinite(number)):
            return f"I{i + 1}: not a number: {value!r}"
        dense.append(number)
    return float(fields[0]), dense, [value_key(v, hex_tokens=True) for v in fields[14:]]


field_values = st.sampled_from(
    ["", "0", "1", "-3", "17", "123456789012", "2.5", "x", "1e400", "68fd1e64", "ABCDEF01", "q"]
)
dense_values = st.sampled_from(["", "0", "-3", "17", "123456789012", "-98765432109", "2.5", "x"])
token_values = st.sampled_from(["", "68fd1e64", "ABCDEF01", "0000000g", "q", "é"])
mostly_good = st.tuples(
    st.sampled_from(["0", "1", "1", "2"]),
    st.lists(dense_values, min_size=13, max_size=13),
    st.lists(token_values, min_size=26, max_size=26),
).map(lambda t: "\t".join([t[0], *t[1], *t[2]]))
lines = st.one_of(mostly_good, st.lists(field_values, min_size=0, max_size=42).map("\t".join))


@settings(max_examples=60, deadline=None)
@given(st.lists(lines, min_size=1, max_size=12))
def test_block_matches_a_line_by_line_reference(texts: list[str]) -> None:
    parsed, bad = parse_block("".join(t + "\n" for t in texts).encode(), KAGGLE)
    expected = [reference_line(t) for t in texts]
    assert [(b.index, b.reason) for b in bad] == [
        (i, e) for i, e in enumerate(expected) if isinstance(e, str)
    ]
    good = [e for e in expected if not isinstance(e, str)]
    assert parsed.labels.tolist() == [g[0] for g in good]
    np.testing.assert_array_equal(parsed.dense_raw, np.array([g[1] for g in good]).reshape(-1, 13))
    assert parsed.keys.tolist() == [g[2] for g in good]

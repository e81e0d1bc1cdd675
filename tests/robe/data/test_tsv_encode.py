import numpy as np

from robe.data.tsv_encode import decimal_digits, encode_rows, hex_tokens


def test_hex_tokens_are_eight_lower_case_digits() -> None:
    tokens = np.array([0xDEADBEEF, 0, 0x0A], dtype=np.uint32)
    assert [h.tobytes() for h in hex_tokens(tokens)] == [b"deadbeef", b"00000000", b"0000000a"]


def test_decimal_digits_pad_with_nul_and_blank_missing() -> None:
    digits = decimal_digits(np.array([0, 7, 10, 12345, -1], dtype=np.int64), 5)
    assert [d.tobytes().replace(b"\0", b"") for d in digits] == [b"0", b"7", b"10", b"12345", b""]


def test_encode_rows_writes_criteo_lines() -> None:
    data = encode_rows(
        np.array([1, 0], dtype=np.uint8),
        np.array([[3, -1], [0, 1234]], dtype=np.int64),
        np.array([[0xABCDEF01, 5], [7, 8]], dtype=np.uint32),
        np.array([[True, False], [False, True]]),
    )
    assert data == b"1\t3\t\tabcdef01\t\n0\t0\t1234\t\t00000008\n"


def test_encode_rows_without_dense_features() -> None:
    data = encode_rows(
        np.array([0], dtype=np.uint8),
        np.zeros((1, 0), dtype=np.int64),
        np.array([[1]], dtype=np.uint32),
        np.array([[True]]),
    )
    assert data == b"0\t00000001\n"

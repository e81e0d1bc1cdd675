import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from robe.data import reader
from robe.data.reader import iter_rows, read_rows
from robe.data.rows import Rows
from robe.data.skips import SkipReport
from robe.errors import DataError
from robe.schema import BUILTIN_SCHEMAS
from tests.robe.data.criteo_lines import (
    SAMPLE_POSITIVES,
    SAMPLE_ROWS,
    assert_rows_equal,
    line,
    reference_rows,
    sample_path,
)

KAGGLE = BUILTIN_SCHEMAS["criteo-kaggle"]


def write(path: Path, lines: list[str], end: str = "\n") -> Path:
    path.write_text("".join(text + end for text in lines))
    return path


def gzip_copy(src: Path, dst: Path) -> Path:
    with src.open("rb") as fin, gzip.open(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    return dst


def test_sample_rows_positives_and_shapes() -> None:
    rows = read_rows(sample_path(), KAGGLE)
    assert len(rows) == SAMPLE_ROWS
    assert int(rows.labels.sum()) == SAMPLE_POSITIVES
    assert rows.dense.shape == (SAMPLE_ROWS, 13)
    assert rows.keys.shape == (SAMPLE_ROWS, 26)
    assert rows.dense.dtype == np.float32
    assert rows.keys.dtype == np.int64


def test_sample_matches_a_field_by_field_reference() -> None:
    path = sample_path()
    assert_rows_equal(read_rows(path, KAGGLE), reference_rows(path))


@pytest.mark.parametrize("chunk_rows", [7, 1000, 4096, 10_000, 65_536])
def test_chunk_boundaries_do_not_change_results(chunk_rows: int) -> None:
    path = sample_path()
    chunks = list(iter_rows(path, KAGGLE, chunk_rows=chunk_rows))
    assert [len(c) for c in chunks[:-1]] == [chunk_rows] * (len(chunks) - 1)
    assert 0 < len(chunks[-1]) <= chunk_rows
    assert_rows_equal(Rows.concat(chunks), read_rows(path, KAGGLE))


def test_gzip_reads_like_plain(tmp_path: Path) -> None:
    path = sample_path()
    packed = gzip_copy(path, tmp_path / "sample.txt.gz")
    assert_rows_equal(read_rows(packed, KAGGLE), read_rows(path, KAGGLE))


def test_gzip_detected_by_content_not_name(tmp_path: Path) -> None:
    plain = write(tmp_path / "a.txt", [line("1"), line("0")])
    packed = gzip_copy(plain, tmp_path / "b.tsv")
    assert_rows_equal(read_rows(packed, KAGGLE), read_rows(plain, KAGGLE))


def test_folder_of_shards_reads_like_one_file(tmp_path: Path) -> None:
    path = sample_path()
    lines = path.read_text().splitlines()
    folder = tmp_path / "shards"
    folder.mkdir()
    write(folder / "part-0.txt", lines[:3000])
    gzip_copy(write(tmp_path / "mid.tsv", lines[3000:6500]), folder / "part-1.tsv.gz")
    write(folder / "part-2.tsv", lines[6500:])
    for side_file in ("schema.json", "items.jsonl", "stats.json"):
        (folder / side_file).write_text("{}\n")
    assert_rows_equal(read_rows(folder, KAGGLE), read_rows(path, KAGGLE))
    # Chunks run across shard boundaries: all but the last are full.
    sizes = [len(c) for c in iter_rows(folder, KAGGLE, chunk_rows=4096)]
    assert sizes == [4096, 4096, SAMPLE_ROWS - 8192]


def test_skipped_rows_do_not_shorten_chunks(tmp_path: Path) -> None:
    lines = [line(str(i % 2)) if i % 3 else line("x") for i in range(300)]
    path = write(tmp_path / "third_bad.txt", lines)
    sizes = [len(c) for c in iter_rows(path, KAGGLE, chunk_rows=64, skip_bad_rows=True)]
    assert sizes == [64, 64, 64, 8]


def test_last_line_without_newline_and_crlf(tmp_path: Path) -> None:
    lines = [line("1"), line("0", dense=[""] * 13), line("1", sparse=[""] * 26)]
    lf = read_rows(write(tmp_path / "lf.txt", lines), KAGGLE)
    bare = tmp_path / "bare.txt"
    bare.write_text("\n".join(lines))
    crlf = read_rows(write(tmp_path / "crlf.txt", lines, end="\r\n"), KAGGLE)
    assert len(lf) == 3
    assert_rows_equal(read_rows(bare, KAGGLE), lf)
    assert_rows_equal(crlf, lf)


def test_limit_rows() -> None:
    rows = read_rows(sample_path(), KAGGLE, limit_rows=70_001 // 7)
    assert len(rows) == SAMPLE_ROWS
    first = read_rows(sample_path(), KAGGLE, limit_rows=123)
    assert_rows_equal(first, read_rows(sample_path(), KAGGLE).take(slice(0, 123)))
    with pytest.raises(ValueError, match="limit_rows must be positive, got 0"):
        read_rows(sample_path(), KAGGLE, limit_rows=0)


def test_bad_chunk_rows() -> None:
    with pytest.raises(ValueError, match="chunk_rows must be positive, got 0"):
        next(iter_rows(sample_path(), KAGGLE, chunk_rows=0))


BAD_LINES = [
    ("\t".join(line().split("\t")[:17]), "expected 40 fields, got 17"),
    (line() + "\textra", "expected 40 fields, got 41"),
    ("", "empty line"),
    (line("2"), "label must be 0 or 1, got '2'"),
    (line(""), "label must be 0 or 1, got ''"),
    (line("1", dense=["1"] * 4 + ["abc"] + ["1"] * 8), "I5: not a number: 'abc'"),
    (line("0", dense=["-"] + ["1"] * 12), "I1: not a number: '-'"),
    (line("0", dense=["1"] * 12 + ["nan"]), "I13: not a number: 'nan'"),
]


@pytest.mark.parametrize(("bad", "reason"), BAD_LINES)
def test_bad_line_gives_file_and_line(tmp_path: Path, bad: str, reason: str) -> None:
    path = write(tmp_path / "bad.txt", [line("1"), line("0"), bad, line("1")])
    with pytest.raises(DataError) as info:
        read_rows(path, KAGGLE)
    assert str(info.value) == f"{path}:3: {reason}"


@pytest.mark.parametrize("chunk_rows", [1, 64, 5000, 65_536])
@pytest.mark.parametrize("compress", [False, True])
def test_error_line_is_exact_across_chunks_and_gzip(
    tmp_path: Path, chunk_rows: int, compress: bool
) -> None:
    lines = sample_path().read_text().splitlines()
    lines[4999] = lines[4999][:50]
    path = write(tmp_path / "cut.txt", lines)
    if compress:
        path = gzip_copy(path, tmp_path / "cut.txt.gz")
    with pytest.raises(DataError, match=rf"^{path}:5000: expected 40 fields, got \d+$"):
        for _ in iter_rows(path, KAGGLE, chunk_rows=chunk_rows):
            pass


def test_error_in_second_shard_names_that_shard(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", [line("1")] * 3)
    bad = write(tmp_path / "b.txt", [line("1"), line("7")])
    with pytest.raises(DataError, match=rf"^{bad}:2: label must be 0 or 1, got '7'$"):
        read_rows(tmp_path, KAGGLE)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with pytest.raises(DataError) as info:
        read_rows(path, KAGGLE)
    assert str(info.value) == f"{path}: empty file, no rows"


def test_damaged_gzip(tmp_path: Path) -> None:
    packed = gzip_copy(write(tmp_path / "a.txt", [line("1")] * 500), tmp_path / "a.txt.gz")
    data = packed.read_bytes()
    packed.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=rf"^{packed}: damaged gzip data: "):
        read_rows(packed, KAGGLE)


def test_skip_bad_rows_counts_and_keeps_the_rest(tmp_path: Path) -> None:
    lines = [line("1")] * 10
    lines[2] = line("3")
    lines[5] = ""
    lines[7] = line("0", dense=["x"] * 13)
    path = write(tmp_path / "some_bad.txt", lines)
    report = SkipReport()
    rows = read_rows(path, KAGGLE, skip_bad_rows=True, report=report)
    assert len(rows) == 7
    assert report.count == 3
    assert report.examples == [
        f"{path}:3: label must be 0 or 1, got '3'",
        f"{path}:6: empty line",
        f"{path}:8: I1: not a number: 'x'",
    ]


def test_skip_report_keeps_the_first_examples_only(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.txt", [line("1")] + [line("9")] * 20)
    report = SkipReport()
    chunks = list(iter_rows(path, KAGGLE, chunk_rows=3, skip_bad_rows=True, report=report))
    assert sum(len(c) for c in chunks) == 1
    assert report.count == 20
    assert report.examples == [f"{path}:{n}: label must be 0 or 1, got '9'" for n in range(2, 7)]
    assert (
        report.summary() == f"skipped 20 bad rows (first: {path}:2: label must be 0 or 1, got '9')"
    )


def test_nothing_left_after_skipping(tmp_path: Path) -> None:
    path = write(tmp_path / "all_bad.txt", [line("5")] * 3)
    with pytest.raises(DataError, match="no rows left after skipping bad rows"):
        read_rows(path, KAGGLE, skip_bad_rows=True)


def test_overlong_line_stops_early(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "MAX_LINE_BYTES", 1000)
    path = tmp_path / "binary.bin"
    path.write_bytes((line("1") + "\n").encode() * 3 + b"\x00" * 5000)
    with pytest.raises(DataError, match=rf"^{path}:4: line longer than 1000 bytes$"):
        read_rows(path, KAGGLE)

from __future__ import annotations

from typing import Any

import pytest

from robe.bench.report import END_MARKER, START_MARKER, ratio, render, replace_between_markers


def _case(impl: str, rate: float, **over: Any) -> dict[str, Any]:
    case = {
        "impl": impl,
        "device": "cpu",
        "shape": "criteo-kaggle",
        "dim": 16,
        "batch": 4096,
        "ids": "zipf",
        "pass": "forward",
        "lookups_per_s": rate,
        "embedding_bytes": 1,
    }
    return case | over


def test_ratio_is_against_the_best_plain_impl() -> None:
    cases = [
        _case("robe-fused", 30.0),
        _case("robe-reference", 100.0),
        _case("embedding_bag-concat", 10.0),
        _case("fbgemm-tbe", 20.0),
    ]
    assert ratio(cases) == 1.5
    assert ratio(cases[:2]) is None


def test_lookup_table_has_one_row_per_setting_and_notes_caps() -> None:
    result = {
        "machine": {"description": "test box"},
        "shapes": [
            {
                "shape": "criteo-terabyte",
                "plain_tables_capped_at_rows": 1000,
                "plain_bytes_measured": 2**30,
                "full_plain_bytes": 2**36,
            }
        ],
        "skipped": {"fbgemm-tbe": "ImportError: nope"},
        "cases": [
            _case("robe-fused", 3e6),
            _case("embedding_bag-concat", 1e6),
            _case("robe-fused", 2e6, batch=256),
        ],
    }
    text = render(result)
    rows = [line for line in text.splitlines() if line.startswith("| cpu")]
    assert len(rows) == 2
    assert "**3.00x**" in rows[0] and rows[1].endswith("| - |")
    assert "capped at 1,000 rows" in text and "fbgemm-tbe skipped" in text


def test_model_table_relates_robe_to_full_in_the_same_runtime() -> None:
    common = {"device": "cpu", "runtime": "eager", "embedding_bytes": 2e6}
    result = {
        "cases": [
            common | {"embedding": "robe", "rows_per_s": 300.0},
            common | {"embedding": "full", "rows_per_s": 100.0},
            common | {"embedding": "robe", "runtime": "compiled", "error": "boom"},
        ]
    }
    text = render(result)
    assert "3.00x" in text and "error: boom" in text


def test_model_table_relates_each_precision_to_fp32_and_shows_skips() -> None:
    common = {"preset": "kaggle", "device": "cpu", "runtime": "onnx", "embedding": "robe"}
    result = {
        "cases": [
            common | {"precision": "fp32", "rows_per_s": 100.0, "embedding_bytes": 2e6},
            common
            | {
                "precision": "int8",
                "rows_per_s": 250.0,
                "embedding_bytes": 2e6,
                "auc_delta": -2e-4,
            },
            common | {"precision": "bf16", "skipped": "no bf16 kernels", "embedding_bytes": 2e6},
            {"preset": "terabyte", "device": "cpu", "embedding": "full", "skipped": "needs 90 GiB"},
        ]
    }
    rows = [line for line in render(result).splitlines() if line.startswith("| ")][2:]
    assert "| int8 |" in rows[1] and "| 2.50x |" in rows[1] and "-0.00020" in rows[1]
    assert rows[0].endswith("| 100 |  |  |  |")
    assert "skipped: no bf16 kernels" in rows[2] and "skipped: needs 90 GiB" in rows[3]


def test_update_replaces_only_the_marked_section() -> None:
    doc = f"intro\n{START_MARKER}\nold table\n{END_MARKER}\nafter\n"
    new = replace_between_markers(doc, "new table")
    assert new == f"intro\n{START_MARKER}\nnew table\n{END_MARKER}\nafter\n"
    with pytest.raises(ValueError, match="results"):
        replace_between_markers("no markers", "x")

"""Overload and soak summaries: goodput, shed fraction, late answers and slow refusals."""

from __future__ import annotations

import numpy as np

from loadtest.overload import OverloadConfig, markdown, summarize, with_deadline
from loadtest.runner import RateResult, RunConfig


def test_summary_counts_goodput_shedding_lateness() -> None:
    config = OverloadConfig(deadline_ms=1000, late_ms=100, refusal_ms=50)
    answered = np.array(
        [
            [200, 0.2],  # good
            [200, 0.9],  # good
            [200, 1.05],  # answered 200 past its deadline: not goodput, not late (< +100 ms)
            [504, 1.2],  # accepted, answered 200 ms after the deadline: late
            [503, 0.01],  # a quick refusal
            [503, 0.08],  # a slow refusal
        ]
    )
    result = RateResult(
        config=RunConfig(rate=4.0, duration_s=2.0),
        latencies_s=answered[answered[:, 0] == 200, 1],
        errors={"503": 2, "504": 1, "dropped": 1},
        responses={},
        elapsed_s=2.5,
        max_send_lag_s=0.0,
        answered=answered,
    )
    s = summarize(result, capacity=2.0, config=config)
    assert s["multiple"] == 2.0 and s["sent"] == 7
    assert s["goodput_rps"] == 1.0 and s["goodput_of_capacity"] == 0.5
    assert s["shed_fraction"] == round(2 / 7, 3)
    assert s["late"] == 1 and s["slow_refusals"] == 1
    assert s["answers"] == {"200": 3, "503": 2, "504": 1}
    assert s["accepted_max_ms"] == 1200.0 and s["refusal_max_ms"] == 80.0
    doc = {"config": config.__dict__, "capacity_rps": 2.0, "levels": [s]}
    assert "| 4.0 | 2.0 | 1.00 | 50% | 29% |" in markdown(doc, "t")


def test_with_deadline_sets_timeout_ms() -> None:
    assert with_deadline(b'{"k": 3}', 250.0) == b'{"k": 3, "timeout_ms": 250.0}'

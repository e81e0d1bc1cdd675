"""Parsing /metrics as the service's own Metrics writes it."""

import pytest

from loadtest import scrape
from service.metrics import Metrics


def exposition() -> str:
    m = Metrics()
    m.requests.labels("robe", "/recommend", "200").inc(7)
    m.requests.labels("robe", "/recommend", "503").inc(2)
    m.requests.labels("robe", "/score", "200").inc(3)
    m.requests.labels("full", "/recommend", "200").inc(5)
    m.requests.labels("", "/metrics", "200").inc()
    for rows in (1, 3, 3, 100, 5000):
        m.batch_rows.labels("robe").observe(rows)
    for seconds in (0.001, 0.003):
        m.stage_duration.labels("robe", "inference").observe(seconds)
    m.stage_duration.labels("robe", "parse").observe(0.0005)
    m.stage_duration.labels("full", "parse").observe(9.0)
    return m.exposition().decode()


def test_request_counts_by_model():
    text = exposition()
    assert scrape.request_counts(text, "robe") == {
        "/recommend": {"200": 7, "503": 2},
        "/score": {"200": 3},
    }
    everything = scrape.request_counts(text)
    assert everything["/recommend"] == {"200": 12, "503": 2}
    assert everything["/metrics"] == {"200": 1}


def test_stage_means_and_histogram_totals():
    text = exposition()
    totals = scrape.stage_totals(text, "robe")
    seconds, count = totals["inference"]
    assert seconds == pytest.approx(0.004) and count == 2
    means = scrape.stage_means_ms(totals, {"inference": (0.001, 1)})
    assert means["inference"] == pytest.approx(3.0)
    assert means["parse"] == pytest.approx(0.5)
    assert scrape.stage_means_ms(totals, totals)["parse"] is None  # nothing in between
    assert scrape.histogram_total(text, "robe_batch_rows", "robe") == (5107.0, 5)


def test_histogram_buckets_and_differences():
    text = exposition()
    cumulative = scrape.histogram(text, "robe_batch_rows", "robe")
    assert cumulative[0] == (1.0, 1)
    assert cumulative[-1] == (float("inf"), 5)
    per = dict(scrape.per_bucket(cumulative))
    assert per[1.0] == 1 and per[4.0] == 2 and per[128.0] == 1 and per[8192.0] == 1
    assert sum(per.values()) == 5
    before = [(le, n - 1 if le >= 4 else n) for le, n in cumulative]
    assert sum(n for _, n in scrape.per_bucket(scrape.difference(cumulative, before))) == 1
    assert scrape.histogram(text, "robe_batch_rows", "nobody") == []

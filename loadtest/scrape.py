"""Reading the service's Prometheus `/metrics`: request counts and batch-size histograms."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def fetch(url: str, timeout: float = 10.0) -> str:
    with urllib.request.urlopen(f"{url.rstrip('/')}/metrics", timeout=timeout) as resp:
        return str(resp.read().decode())


def samples(text: str, name: str) -> list[Sample]:
    """Every sample called `name` (a counter's `_total`, a histogram's `_bucket` ...)."""
    out = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                out.append(Sample(s.name, dict(s.labels), float(s.value)))
    return out


def request_counts(text: str, model: str | None = None) -> dict[str, dict[str, int]]:
    """robe_requests_total as endpoint -> HTTP status -> count (of one model, if given)."""
    out: dict[str, dict[str, int]] = {}
    for s in samples(text, "robe_requests_total"):
        if model is not None and s.labels.get("model") != model:
            continue
        by_code = out.setdefault(s.labels["endpoint"], {})
        by_code[s.labels["code"]] = by_code.get(s.labels["code"], 0) + int(s.value)
    return out


def histogram(text: str, name: str, model: str) -> list[tuple[float, int]]:
    """(upper bound, cumulative count) of histogram `name` for `model`, ascending."""
    buckets = [
        (float(s.labels["le"]), int(s.value))
        for s in samples(text, f"{name}_bucket")
        if s.labels.get("model") == model
    ]
    return sorted(buckets)


def stage_totals(text: str, model: str) -> dict[str, tuple[float, int]]:
    """robe_stage_duration_seconds as stage -> (seconds summed, observations)."""
    sums = {
        s.labels["stage"]: s.value
        for s in samples(text, "robe_stage_duration_seconds_sum")
        if s.labels.get("model") == model
    }
    counts = {
        s.labels["stage"]: int(s.value)
        for s in samples(text, "robe_stage_duration_seconds_count")
        if s.labels.get("model") == model
    }
    return {stage: (sums[stage], counts.get(stage, 0)) for stage in sums}


def histogram_total(text: str, name: str, model: str) -> tuple[float, int]:
    """(sum, count) of histogram `name` for `model`."""
    total = sum(s.value for s in samples(text, f"{name}_sum") if s.labels.get("model") == model)
    count = sum(s.value for s in samples(text, f"{name}_count") if s.labels.get("model") == model)
    return total, int(count)


def stage_means_ms(
    after: dict[str, tuple[float, int]], before: dict[str, tuple[float, int]]
) -> dict[str, float | None]:
    """Mean milliseconds per observation of each stage between two scrapes."""
    out: dict[str, float | None] = {}
    for stage, (total, count) in after.items():
        t0, c0 = before.get(stage, (0.0, 0))
        out[stage] = round((total - t0) / (count - c0) * 1000, 4) if count > c0 else None
    return out


def per_bucket(cumulative: list[tuple[float, int]]) -> list[tuple[float, int]]:
    """Cumulative histogram buckets -> count in each bucket."""
    out, previous = [], 0
    for le, count in cumulative:
        out.append((le, count - previous))
        previous = count
    return out


def difference(
    after: list[tuple[float, int]], before: list[tuple[float, int]]
) -> list[tuple[float, int]]:
    """Bucket counts accumulated between two scrapes of the same histogram."""
    base = dict(before)
    return [(le, count - base.get(le, 0)) for le, count in after]

"""The Grafana dashboard cannot silently show nothing: every metric and label it queries
is in the live service's /metrics, and every panel query and template variable returns
series through a real Prometheus scraping that service."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.container import REPO, Command, http
from tests.deploy.prometheus import Prometheus

DASHBOARD: dict[str, Any] = json.loads(
    (REPO / "deploy/grafana/dashboards/robe-serve.json").read_text()
)
MODELS = ("robe", "full")
# Grafana's variables as the test resolves them: the compose job, all models, a window
# wide enough for two scrapes.
VARIABLES = {"$__rate_interval": "1m", "$job": "robe", "$model": ".*"}
SELECTOR = re.compile(r"(robe_\w+)\{([^}]*)\}")
MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"')


def panels(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in node.get("panels", []):
        yield panel
        yield from panels(panel)


def queries() -> list[tuple[str, str, str]]:
    """(panel title, expr, legend) of every target; a panel repeated per model once for
    each model, with $model as Grafana sets it in each copy."""
    out = []
    for p in panels(DASHBOARD):
        for t in p.get("targets", []):
            expr, legend = t["expr"], t.get("legendFormat", "")
            if p.get("repeat") == "model":
                out += [(p["title"], expr.replace("$model", m), legend) for m in MODELS]
            else:
                out.append((p["title"], expr, legend))
    return out


def resolve(expr: str) -> str:
    for name in sorted(VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, VARIABLES[name])
    assert "$" not in expr, f"unknown dashboard variable in {expr}"
    return expr


def live_samples(service: Command) -> dict[str, list[dict[str, str]]]:
    """Sample name -> label sets, after one request to each model."""
    for model in MODELS:
        status, body = http(
            "POST", f"{service.url}/recommend", {"user": {}, "k": 2, "model": model}
        )
        assert status == 200, body
    status, text = http("GET", f"{service.url}/metrics")
    assert status == 200 and isinstance(text, str)
    out: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(dict(sample.labels))
    return out


def test_dashboard_covers_the_issue_panels() -> None:
    titles = " | ".join(p["title"] for p in panels(DASHBOARD)).lower()
    for topic in (
        "request rate",
        "p50 / p95 / p99",
        "stage",
        "batch size",
        "queue depth",
        "rejections",
        "embedding memory",
        "baseline",
    ):
        assert topic in titles, topic


def test_every_queried_metric_and_label_is_in_live_metrics(dev_service: Command) -> None:
    samples = live_samples(dev_service)
    for title, expr, _ in queries():
        names = set(re.findall(r"\brobe_\w+", expr))
        assert names, f"{title}: no robe_ metric in {expr}"
        for name in names:
            assert name in samples, f"{title}: {name} is not in /metrics"
        for name, matchers in SELECTOR.findall(resolve(expr)):
            for label, op, value in MATCHER.findall(matchers):
                if label == "job":  # added by Prometheus, not the service
                    continue
                values = {s.get(label) for s in samples[name]} - {None}
                assert values, f"{title}: {name} has no label {label}"
                if op == "=":
                    assert value in values, f"{title}: {name}{{{label}}} is never {value!r}"
                elif op == "=~":
                    assert any(re.fullmatch(value, v or "") for v in values), (
                        f"{title}: no {name}{{{label}}} matches {value!r}"
                    )


@pytest.fixture(scope="module")
def scraped(prometheus: Prometheus, dev_service: Command) -> Prometheus:
    """Prometheus after traffic to both models and enough scrapes for rate() to exist."""
    live_samples(dev_service)
    deadline = time.monotonic() + 6 * prometheus.scrape_interval_s() + 10
    expr = 'count_over_time(robe_requests_total{job="robe", endpoint="/recommend"}[1m])'
    while time.monotonic() < deadline:
        result = prometheus.query(expr)
        if len(result) >= len(MODELS) and all(float(r["value"][1]) >= 3 for r in result):
            return prometheus
        time.sleep(1)
    raise AssertionError(f"Prometheus did not scrape the service 3 times: {result}")


def test_every_panel_query_returns_series(scraped: Prometheus) -> None:
    for title, expr, legend in queries():
        result = scraped.query(resolve(expr))
        assert result, f"{title}: no data for {resolve(expr)}"
        for label in re.findall(r"\{\{(\w+)\}\}", legend):
            assert all(label in r["metric"] for r in result), f"{title}: legend {{{{{label}}}}}"
        if "by (model" in expr:  # ROBE beside the baseline: each model has its series
            pinned = {m for m in MODELS if f'model="{m}"' in expr}
            assert {r["metric"]["model"] for r in result} == (pinned or set(MODELS)), title


def test_template_variables_list_the_job_and_both_models(scraped: Prometheus) -> None:
    found = {}
    for variable in DASHBOARD["templating"]["list"]:
        match = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"]["query"])
        assert match, variable["query"]
        selector, label = match.groups()
        result = scraped.query(f"group by ({label}) ({resolve(selector)})")
        found[variable["name"]] = {r["metric"][label] for r in result}
    assert found == {"job": {"robe"}, "model": set(MODELS)}

"""A real Prometheus, running deploy/prometheus/prometheus.yml against the live service,
reads back exactly the requests the test sent."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.container import Command, http
from tests.deploy.prometheus import Prometheus, wait_for


def served_count(service: Command, model: str) -> float:
    """robe_requests_total for /recommend, 200, as the service itself exposes it."""
    status, text = http("GET", f"{service.url}/metrics")
    assert status == 200 and isinstance(text, str)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if (sample.name, labels.get("model"), labels.get("endpoint"), labels.get("code")) == (
                "robe_requests_total",
                model,
                "/recommend",
                "200",
            ):
                return sample.value
    return 0.0


def test_prometheus_scrapes_the_request_count(prometheus: Prometheus, dev_service: Command) -> None:
    sent = {"robe": 5, "full": 3}
    before = {model: served_count(dev_service, model) for model in sent}
    for model, n in sent.items():
        for _ in range(n):
            status, body = http(
                "POST", f"{dev_service.url}/recommend", {"user": {}, "k": 3, "model": model}
            )
            assert status == 200, body
    timeout = 4 * prometheus.scrape_interval_s() + 10
    for model, n in sent.items():
        expected = before[model] + n
        assert served_count(dev_service, model) == expected
        expr = (
            f'robe_requests_total{{job="robe", model="{model}", endpoint="/recommend", code="200"}}'
        )
        (sample,) = wait_for(prometheus, expr, expected, timeout)
        assert sample["metric"]["instance"] == f"127.0.0.1:{dev_service.port}"
    (up,) = prometheus.query('up{job="robe"}')
    assert up["value"][1] == "1"

"""Locust scenarios for robe-serve: realistic closed-loop traffic, headless or in the web UI.

    locust -f loadtest/locustfile.py --headless -u 64 -r 16 -t 60s \\
        --host http://127.0.0.1:8000 --csv out/locust

Each simulated user sends `/recommend` (a Zipf-drawn user profile, a context, a
candidate list of 10 to 500 catalog items) or, one call in ten, `/score` over a few
rows, then thinks for 0.5-1.5 s. Payloads come from `loadtest.traffic`, the same
generator as the open-loop runner. The model's features and item ids are read from
the server (`/v1/models`, `/recommend`) unless `--robe-schema` and `--robe-catalog`
name the data's `schema.json` and `items.jsonl`.

Locust waits for each response before the next request and reports whole
milliseconds: for exact, sub-millisecond percentiles at a fixed arrival rate use
`robe loadtest`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

# `locust -f loadtest/locustfile.py` puts loadtest/ on sys.path, not the repository
# root: make `import loadtest` work from a fresh clone without an install.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from locust import FastHttpUser, between, events, task
from locust.env import Environment

from loadtest.discover import discover
from loadtest.traffic import Traffic, TrafficConfig

_shared: dict[str, Traffic] = {}


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--robe-model", default="", help="model name (default: server default)")
    parser.add_argument("--robe-schema", default="", help="schema.json of the model's data")
    parser.add_argument("--robe-catalog", default="", help="items.jsonl of the model's catalog")
    parser.add_argument(
        "--robe-score-fraction", type=float, default=0.1, help="share of /score calls"
    )
    parser.add_argument("--robe-seed", type=int, default=0, help="traffic seed")


def traffic_for(environment: Environment) -> Traffic:
    """One generator per host, shared by every user of this process (gevent: one thread)."""
    host = str(environment.host)
    if host not in _shared:
        opts = environment.parsed_options
        model = getattr(opts, "robe_model", "") or None
        schema = getattr(opts, "robe_schema", "")
        catalog = getattr(opts, "robe_catalog", "")
        features, items = discover(
            host, model, Path(schema) if schema else None, Path(catalog) if catalog else None
        )
        config = TrafficConfig(
            score_fraction=getattr(opts, "robe_score_fraction", 0.1), model=model
        )
        _shared[host] = Traffic(features, items, config, seed=getattr(opts, "robe_seed", 0))
    return _shared[host]


@events.test_start.add_listener
def _discover_once(environment: Environment, **_: Any) -> None:
    # before any user starts: one catalog read, not one per user racing the load
    if environment.host:
        traffic_for(environment)


class RecommendationUser(FastHttpUser):
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.traffic = traffic_for(self.environment)

    @task
    def call(self) -> None:
        call = self.traffic.next_call()
        self.client.post(
            call.endpoint,
            json=call.body,
            name=call.endpoint,
        )

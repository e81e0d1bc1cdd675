import json
from pathlib import Path

import numpy as np
import pytest

from loadtest.traffic import Feature, Item, Traffic, TrafficConfig, features_of, load_catalog
from robe.schema import load_schema

FEATURES = features_of(load_schema("criteo-kaggle"))
ITEMS = tuple(Item(f"item-{i:04d}", {"C4": f"{i:08x}", "I5": i % 7}) for i in range(600))


def test_same_user_same_profile_across_generators():
    a = Traffic(FEATURES, ITEMS, TrafficConfig(missing_rate=0.0), seed=1)
    b = Traffic(FEATURES, ITEMS, TrafficConfig(missing_rate=0.0), seed=2)
    user_names = {f.name for f in FEATURES if f.side == "user"}
    pa = {k: v for k, v in a.user(42).items() if k in user_names}
    pb = {k: v for k, v in b.user(42).items() if k in user_names}
    assert pa == pb
    assert pa != {k: v for k, v in a.user(43).items() if k in user_names}
    assert not {f.name for f in FEATURES if f.side == "item"} & set(a.user(1))


def test_values_match_feature_kinds():
    t = Traffic(FEATURES, ITEMS, TrafficConfig(missing_rate=0.0))
    kinds = {f.name: f.kind for f in FEATURES}
    for name, value in t.user(7).items():
        if kinds[name] == "sparse":
            assert isinstance(value, str) and len(value) == 8
            int(value, 16)
        else:
            assert isinstance(value, int) and 0 <= value < 100


def test_users_are_zipf_skewed():
    t = Traffic(FEATURES, ITEMS, TrafficConfig(users=10_000))
    ranks = np.array([t.user_rank() for _ in range(5000)])
    assert ranks.min() >= 0 and ranks.max() < 10_000
    # uniform users would give the top 10 about 0.1% of calls; Zipf(1.1) gives far more
    assert (ranks < 10).mean() > 0.2


def test_calls_follow_the_config():
    config = TrafficConfig(candidate_sizes=(3, 40), candidate_weights=(1, 1), ks=(5,))
    t = Traffic(FEATURES, ITEMS, config, seed=3)
    calls = t.calls(2000)
    scores = [c for c in calls if c.endpoint == "/score"]
    recs = [c for c in calls if c.endpoint == "/recommend"]
    assert 0.05 < len(scores) / len(calls) < 0.15
    sizes = {len(c.body["candidates"]) for c in recs}
    assert sizes == {3, 40}
    for c in recs:
        assert len(set(c.body["candidates"])) == len(c.body["candidates"])
        assert c.body["k"] == min(5, len(c.body["candidates"]))
        assert "model" not in c.body
    for c in scores:
        assert 1 <= len(c.body["rows"]) <= config.max_score_rows
        assert all("C4" in row for row in c.body["rows"])  # item features of the catalog
    assert json.loads(calls[0].encode()) == calls[0].body


def test_same_seed_same_traffic_and_model_field():
    config = TrafficConfig(model="robe")
    a = Traffic(FEATURES, ITEMS, config, seed=5).calls(50)
    b = Traffic(FEATURES, ITEMS, config, seed=5).calls(50)
    assert [c.encode() for c in a] == [c.encode() for c in b]
    assert all(c.body["model"] == "robe" for c in a)


def test_untyped_features_get_integers():
    features = (Feature("u", "user", "any"), Feature("c", "context", "any"))
    t = Traffic(features, ITEMS[:2], TrafficConfig(missing_rate=0.0))
    assert all(isinstance(v, int) for v in t.user(3).values())


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"users": 0}, "users"),
        ({"candidate_sizes": (10, 0), "candidate_weights": (1, 1)}, "candidate_sizes"),
        ({"candidate_weights": (1.0,)}, "candidate_weights"),
        ({"score_fraction": 1.5}, "score_fraction"),
        ({"missing_rate": 1.0}, "missing_rate"),
    ],
)
def test_bad_config_names_the_value(kwargs, word):
    with pytest.raises(ValueError, match=word):
        TrafficConfig(**kwargs)


def test_load_catalog(tmp_path: Path):
    path = tmp_path / "items.jsonl"
    path.write_text('{"item_id": "a", "features": {"C4": "00000001"}}\n\n{"item_id": "b"}\n')
    assert load_catalog(path) == (Item("a", {"C4": "00000001"}), Item("b", {}))
    path.write_text('{"item_id": "a"}\nnot json\n')
    with pytest.raises(ValueError, match=r"items\.jsonl:2"):
        load_catalog(path)

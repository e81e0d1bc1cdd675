import pytest

from loadtest.sweep import SweepConfig


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"rates": ()}, "at least one rate"),
        ({"rates": (10.0, -1.0)}, "rate must be positive"),
        ({"duration_s": 0.0}, "duration"),
        ({"rounds": 0}, "rounds"),
        ({"p99_target_ms": 0.0}, "p99 target"),
        ({"warmup_s": -1.0}, "warmup"),
        ({"distinct_requests": 0}, "distinct_requests"),
    ],
)
def test_bad_config_names_the_value(kwargs, word):
    args = {"rates": (10.0,), "duration_s": 1.0, **kwargs}
    with pytest.raises(ValueError, match=word):
        SweepConfig(**args)


def test_slices_split_the_duration_and_settings_are_recorded():
    config = SweepConfig(rates=(10.0, 20.0), duration_s=8.0, rounds=4, max_in_flight=7)
    part = config.run_config(20.0, config.duration_s / config.rounds)
    assert (part.rate, part.duration_s, part.max_in_flight, part.count) == (20.0, 2.0, 7, 40)
    assert config.settings()["rounds"] == 4 and config.settings()["rates"] == [10.0, 20.0]

"""Settings: environment variables ROBE_*, `robe serve` flags onto the same fields."""

from __future__ import annotations

import os

import pytest
from fastapi.testclient import TestClient

from robe.cli.main import build_parser
from robe.errors import RobeError
from service.app import build_app
from service.errors import NotReady
from service.flags import flags, settings_from_flags
from service.metrics import Metrics
from service.settings import Settings, split_model_arg
from service.state import ServiceState


def test_env_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBE_MAX_BATCH_ROWS", "512")
    monkeypatch.setenv("ROBE_MAX_WAIT_MS", "7.5")
    monkeypatch.setenv("ROBE_MODELS", '["robe=a", "full=b"]')
    args = build_parser().parse_args(["serve", "--max-wait-ms", "1", "--no-batching"])
    s = settings_from_flags(vars(args))
    assert (s.max_batch_rows, s.max_wait_ms, s.batching) == (512, 1.0, False)
    assert s.model_paths() == [("robe", "a"), ("full", "b")]
    args = build_parser().parse_args(["serve", "--model", "x=c", "--model", "d/e"])
    assert settings_from_flags(vars(args)).model_paths() == [("x", "c"), ("", "d/e")]


def test_bad_settings_are_one_line() -> None:
    with pytest.raises(RobeError, match=r"^--port: Input should be less than or equal to 65535$"):
        settings_from_flags(vars(build_parser().parse_args(["serve", "--port", "70000"])))
    with pytest.raises(ValueError, match="given twice"):
        Settings(models=["a=x", "a=y"])
    with pytest.raises(ValueError, match="NAME=ARTIFACT"):
        split_model_arg("=x")


def test_buckets_and_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(max_batch_rows=100).buckets() == [1, 2, 4, 8, 16, 32, 64, 100]
    assert Settings(threads=3).inference_threads() == 3
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert Settings().inference_threads() == 7  # one core left to the event loop
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert Settings().inference_threads() == 1
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # unknown: taken as 2
    assert Settings().inference_threads() == 1


def test_inference_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert Settings().inference_workers("cpu") == 2  # two single-threaded workers
    assert Settings().inference_workers("cuda") == 1
    assert Settings(threads=2).inference_workers("cpu") == 1
    assert Settings(workers=3).inference_workers("cuda") == 3
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert Settings().inference_workers("cpu") == 1  # one worker of 7 threads
    assert Settings(threads=2).inference_workers("cpu") == 4


def test_not_ready_is_503() -> None:
    state = ServiceState(settings=Settings(), metrics=Metrics(), draining=True)
    with pytest.raises(NotReady, match="draining") as info:
        state.model(None)
    assert info.value.status == 503
    assert info.value.headers == {"Retry-After": "1"}


def test_no_model_fails_startup() -> None:
    with pytest.raises(Exception, match="no model to serve"), TestClient(build_app(Settings())):
        pass


def test_every_setting_is_a_flag() -> None:
    table = flags()
    assert [field for field, _ in table.values()] == list(Settings.model_fields)
    assert table["--max-wait-ms"] == ("max_wait_ms", {"type": float})
    assert table["--port"] == ("port", {"type": int})
    assert table["--log-level"] == ("log_level", {})
    assert table["--model"][1]["action"] == "append"
    args = build_parser().parse_args(["serve", "--no-warmup", "--threads", "3"])
    assert (args.warmup, args.threads, args.batching) == (False, 3, None)

"""Service settings: environment variables `ROBE_*`, and the `robe serve` flags.

Every field is one knob; `robe serve --max-batch-rows 512` and `ROBE_MAX_BATCH_ROWS=512`
set the same field (flags win). Nothing below reads an argparse namespace.
"""

from __future__ import annotations

import os
import re
from typing import Literal, get_args

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Backend = Literal["auto", "onnx", "torchscript", "aoti", "eager"]
Precision = Literal["auto", "fp32", "bf16", "fp16", "int8"]  # model_export.precision
# The runtimes a model can be served by: every backend but "auto" (the one list of them).
BACKENDS: tuple[str, ...] = get_args(Backend)[1:]
Device = Literal["auto", "cpu", "cuda"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ROBE_", extra="forbid")

    models: list[str] = Field(
        default_factory=list,
        description="models to serve, 'ARTIFACT' or 'NAME=ARTIFACT'; the first is the default",
    )
    backend: Backend = Field(
        default="auto", description="runtime: auto picks onnx, torchscript, aoti, eager"
    )
    device: Device = Field(default="auto", description="auto = cuda when present, else cpu")
    precision: Precision = Field(
        default="auto",
        description="auto = the fastest variant whose accuracy guard passed (else fp32)",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    batching: bool = Field(default=True, description="coalesce requests into row batches")
    max_batch_rows: int = Field(default=256, ge=1, description="a batch closes at this many rows")
    max_wait_ms: float = Field(
        default=0.0,
        ge=0,
        description="... or this long after its first row (0: an idle worker runs a request "
        "at once, rows gather only while a batch runs; raise it only where measured to help)",
    )
    max_queue_rows: int = Field(default=65536, ge=1, description="rows queued per model before 503")
    request_timeout_s: float = Field(
        default=2.0,
        gt=0,
        description="per-request deadline (504 past it; 503 at once when the predicted wait "
        "is longer); a body's timeout_ms may only shorten it",
    )
    admit_share: float = Field(
        default=0.7,
        gt=0,
        le=1,
        description="admit a request only if its predicted wait fills at most this share of "
        "its deadline (the rest absorbs error in the prediction); else 503 at once",
    )
    max_request_rows: int = Field(
        default=4096, ge=1, description="rows one request may score (413)"
    )
    max_body_bytes: int = Field(
        default=1 << 20, ge=1, description="request body limit in bytes (413)"
    )
    max_k: int = Field(default=1000, ge=1, description="largest k of /recommend")
    warmup: bool = Field(default=True, description="run every batch-size bucket before /readyz")
    threads: int = Field(
        default=0,
        ge=0,
        description="intra-op threads of the inference worker (0 = cores - 1, at least 1)",
    )
    workers: int = Field(
        default=0,
        ge=0,
        description="inference workers per device, each running one batch at a time "
        "(0 = on the CPU as many as cores allow at --threads each, on CUDA 1)",
    )
    split_rows: int = Field(
        default=32,
        ge=0,
        description="a batch taken with nothing else queued and several workers idle runs "
        "in parts side by side, one per idle worker of at least this many rows (0: never "
        "split)",
    )
    floor_endpoint: bool = Field(
        default=False, description="expose POST /bench/floor (benchmarks only)"
    )
    drain_s: float = Field(
        default=5.0,
        ge=0,
        description="on SIGTERM: /readyz turns 503 and responses close their connections "
        "for this long, while requests are still served; then intake stops, admitted "
        "requests finish and the process exits 0",
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="enables the model repository API (POST /v2/repository/...) for "
        "'Authorization: Bearer TOKEN'; off when unset",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("models")
    @classmethod
    def _check_models(cls, value: list[str]) -> list[str]:
        names: set[str] = set()
        for entry in value:
            name, _ = split_model_arg(entry)
            if name and name in names:
                raise ValueError(f"model name {name!r} is given twice")
            names.add(name)
        return value

    def model_paths(self) -> list[tuple[str, str]]:
        return [split_model_arg(entry) for entry in self.models]

    def inference_threads(self) -> int:
        """Threads for the model's kernels; one core is left to the event loop."""
        return self.threads or max(1, (os.cpu_count() or 2) - 1)

    def inference_workers(self, device: str) -> int:
        """Batches a device runs at once: on the CPU, one per `inference_threads()` cores
        (a small box runs two single-threaded batches side by side, as many as it has
        cores); a GPU runs one."""
        if self.workers:
            return self.workers
        if device != "cpu":
            return 1
        return max(1, (os.cpu_count() or 2) // self.inference_threads())

    def buckets(self) -> list[int]:
        """Batch-size buckets warmed at startup: powers of two up to max_batch_rows."""
        out, b = [], 1
        while b < self.max_batch_rows:
            out.append(b)
            b *= 2
        out.append(self.max_batch_rows)
        return out


def split_model_arg(entry: str) -> tuple[str, str]:
    """'NAME=PATH' -> (NAME, PATH); a bare PATH gives ('', PATH): named by its manifest."""
    if "=" in entry:
        name, path = entry.split("=", 1)
        if not name or not path:
            raise ValueError(f"model {entry!r}: use NAME=ARTIFACT")
        check_model_name(name)
        return name, path
    if not entry:
        raise ValueError("empty model path")
    return "", entry


MODEL_NAME = r"^[A-Za-z0-9._-]+$"


def check_model_name(name: str) -> str:
    """A model name: ASCII letters, digits, '-', '_' or '.' (ValueError otherwise)."""
    if not re.fullmatch(MODEL_NAME, name):
        raise ValueError(f"model name {name!r}: use letters, digits, '-', '_' or '.'")
    return name

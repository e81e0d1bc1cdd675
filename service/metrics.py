"""Every Prometheus metric of the service, defined once, on a per-app registry.

Names follow DESIGN.md ("Metrics"): prefix `robe_`, base units (seconds, bytes, rows),
histograms, labelled by `model`. A fresh `Metrics()` owns its own CollectorRegistry,
so several apps (tests, benchmarks) in one process never collide.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

# 100 µs .. ~5 s, roughly x2 per step (latency of requests and of their stages).
LATENCY_BUCKETS = (
    0.0001,
    0.0002,
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.5,
    1.0,
    2.0,
    5.0,
)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)
REQUEST_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
STAGES = ("parse", "queue", "inference", "postprocess")
REJECT_REASONS = ("queue_full", "predicted_wait", "deadline", "late", "cancelled", "draining")
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "robe_requests_total",
            "HTTP requests by endpoint and status code",
            ["model", "endpoint", "code"],
            registry=r,
        )
        self.request_duration = Histogram(
            "robe_request_duration_seconds",
            "HTTP request latency, receipt to response",
            ["model", "endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.stage_duration = Histogram(
            "robe_stage_duration_seconds",
            "Time per stage: parse (JSON, validation, rows), queue (waiting for a batch), "
            "inference (one model call: a batch, or a part of a split one), "
            "postprocess (top-k and response)",
            ["model", "stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_rows = Histogram(
            "robe_batch_rows",
            "Rows per inference batch",
            ["model"],
            buckets=ROW_BUCKETS,
            registry=r,
        )
        self.batch_requests = Histogram(
            "robe_batch_requests",
            "Requests per inference batch",
            ["model"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.queue_rows = Gauge(
            "robe_queue_rows",
            "Rows waiting in the model's queue",
            ["model"],
            registry=r,
        )
        self.rejected = Counter(
            "robe_rejected_requests_total",
            "Requests refused or dropped: queue_full, predicted_wait (refused at admission), "
            "deadline (expired while queued), late (dropped before scoring: could no longer "
            "make its deadline), cancelled (client gone), draining",
            ["model", "reason"],
            registry=r,
        )
        self.predicted_wait = Histogram(
            "robe_predicted_wait_seconds",
            "Predicted wait of a request at admission (running batch, rows ahead, own rows)",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.model_loads = Counter(
            "robe_model_loads_total",
            "Model loads through the repository API (and at startup): success or failure",
            ["model", "result"],
            registry=r,
        )
        self.rows_scored = Counter(
            "robe_rows_scored_total",
            "Rows scored by the model",
            ["model"],
            registry=r,
        )
        self.model_info = Gauge(
            "robe_model_info",
            "Loaded model (value 1): version, runtime, device, embedding, precision",
            ["model", "version", "backend", "device", "embedding", "precision"],
            registry=r,
        )
        self.embedding_bytes = Gauge(
            "robe_model_embedding_bytes",
            "Bytes of the model's embedding parameters",
            ["model"],
            registry=r,
        )
        self.full_equivalent_bytes = Gauge(
            "robe_model_full_equivalent_bytes",
            "Bytes the same embeddings take as plain tables",
            ["model"],
            registry=r,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

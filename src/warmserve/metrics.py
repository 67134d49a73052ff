"""Prometheus metrics, aggregated over every process of one server.

The supervisor points ``PROMETHEUS_MULTIPROC_DIR`` at a private directory
before it starts any child, so each process writes its values to memory-mapped
files there and any worker can render the sum. Metric objects are created per
process (``registry=None``: nothing global is registered at import).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class HttpMetrics:
    def __init__(self) -> None:
        self.requests = Counter(
            "warmserve_requests", "HTTP requests by route and status.", ["route", "status"],
            registry=None,
        )  # fmt: skip
        self.latency = Histogram(
            "warmserve_request_duration_seconds", "HTTP request latency.", ["route"],
            buckets=LATENCY_BUCKETS, registry=None,
        )  # fmt: skip
        self.in_flight = Gauge(
            "warmserve_in_flight_requests", "Requests being handled by the HTTP workers.",
            multiprocess_mode="livesum", registry=None,
        )  # fmt: skip
        self.cache = Counter(
            "warmserve_cache_events", "Prediction cache hits, misses, errors, rejected entries.",
            ["backend", "event"], registry=None,
        )  # fmt: skip
        self.cache_evictions = Gauge(
            "warmserve_cache_evictions", "Entries evicted from the shared local cache so far.",
            ["backend"], multiprocess_mode="max", registry=None,
        )  # fmt: skip

    def record(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)


class RunnerMetrics:
    def __init__(self) -> None:
        self.batch_rows = Histogram(
            "warmserve_batch_rows", "Rows per predict call.", buckets=BATCH_BUCKETS,
            registry=None,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "warmserve_queue_depth", "Requests waiting in the model process.",
            multiprocess_mode="livesum", registry=None,
        )  # fmt: skip
        self.model_info = Gauge(
            "warmserve_model_info", "The served model version (1) and earlier ones (0).",
            ["name", "version"], multiprocess_mode="livemax", registry=None,
        )  # fmt: skip
        self.load_seconds = Histogram(
            "warmserve_model_load_seconds", "Time to download, load and warm up a version.",
            buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300), registry=None,
        )  # fmt: skip
        self.reloads = Counter(
            "warmserve_reload_attempts", "Attempts to load a new version.", registry=None
        )
        self.reload_failures = Counter(
            "warmserve_reload_failures", "Versions that failed to load or warm up.",
            registry=None,
        )  # fmt: skip
        self.registry_errors = Counter(
            "warmserve_registry_errors", "Failed registry checks.", registry=None
        )
        self.cancelled = Counter(
            "warmserve_cancelled_requests",
            "Requests dropped before the model worked on them because their client had gone.",
            registry=None,
        )


class SupervisorMetrics:
    def __init__(self) -> None:
        self.restarts = Counter(
            "warmserve_process_restarts", "Child processes replaced.", ["role"], registry=None
        )

    @staticmethod
    def process_died(pid: int | None) -> None:
        """Drop a dead child's live gauges (in-flight, queue depth, model info)."""
        if pid is not None and os.environ.get(MULTIPROC_ENV):
            mark_process_dead(pid)  # type: ignore[no-untyped-call]


def _collect() -> Iterable[Any]:
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry.collect()


def render() -> bytes:
    """The Prometheus text exposition of every process's metrics."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def totals(predict_routes: Iterable[str]) -> dict[str, float]:
    """Server-wide totals for GET /model (the state no single worker holds).

    ``predict_routes``: the route labels whose 200s count as predictions served.
    """
    predict = frozenset(predict_routes)
    found = {"predictions_served": 0.0, "requests": 0.0, "cache_hits": 0.0, "batches": 0.0}
    if not os.environ.get(MULTIPROC_ENV):
        return found
    for family in _collect():
        for sample in family.samples:
            if sample.name == "warmserve_requests_total":
                found["requests"] += sample.value
                if sample.labels["route"] in predict and sample.labels["status"] == "200":
                    found["predictions_served"] += sample.value
            elif sample.name == "warmserve_cache_events_total" and sample.labels["event"] == "hit":
                found["cache_hits"] += sample.value
            elif sample.name == "warmserve_batch_rows_count":
                found["batches"] += sample.value
    return found

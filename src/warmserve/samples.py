"""Live numbers for the status page: the ``/metrics`` totals, sampled into a ring.

One sampler (in the supervisor, off the request path) reads the same
multiprocess metrics directory that ``/metrics`` renders, so every number is a
total over all HTTP workers and the model process, never one worker's. Every
``interval`` it appends a snapshot of cumulative counters, histogram buckets
and gauges to a ring of the last ``window`` seconds and rewrites the ring file
in the runtime directory atomically (write, then rename): any worker reads the
same ring, and a worker that was just replaced still shows the last minutes.
Rates and quantiles are computed by the reader (``http/charts.py``).
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeGuard

import orjson

log = logging.getLogger("warmserve.samples")

FILE_NAME = "samples.json"
WINDOW = 600.0  # seconds of history the charts show
MAX_SAMPLES = 600
MAX_FILE_BYTES = 4 * 1024 * 1024

Snapshot = dict[str, Any]


def status_class(status: str) -> str:
    return f"{status[:1]}xx" if len(status) == 3 and status.isdigit() else "other"


def snapshot(families: Iterable[Any], predict_routes: Iterable[str], now: float) -> Snapshot:
    """Cumulative numbers of the prediction routes and the model process at ``now``.

    ``families``: prometheus_client metric families (``registry.collect()``).
    """
    predict = frozenset(predict_routes)
    requests: dict[str, float] = {}
    buckets: dict[str, float] = {}
    found: Snapshot = {
        "t": now,
        "requests": requests,
        "latency_buckets": [],
        "latency_count": 0.0,
        "latency_sum": 0.0,
        "rows_sum": 0.0,
        "rows_count": 0.0,
        "queue_depth": 0.0,
        "in_flight": 0.0,
        "cache_hits": 0.0,
        "cache_misses": 0.0,
    }
    for family in families:
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, float(sample.value)
            if name == "warmserve_requests_total" and labels.get("route") in predict:
                group = status_class(labels.get("status", ""))
                requests[group] = requests.get(group, 0.0) + value
            elif name.startswith("warmserve_request_duration_seconds") and (
                labels.get("route") in predict
            ):
                if name.endswith("_bucket"):
                    bound = labels.get("le", "+Inf")
                    buckets[bound] = buckets.get(bound, 0.0) + value
                elif name.endswith("_count"):
                    found["latency_count"] += value
                elif name.endswith("_sum"):
                    found["latency_sum"] += value
            elif name == "warmserve_batch_rows_sum":
                found["rows_sum"] += value
            elif name == "warmserve_batch_rows_count":
                found["rows_count"] += value
            elif name == "warmserve_queue_depth":
                found["queue_depth"] += value
            elif name == "warmserve_in_flight_requests":
                found["in_flight"] += value
            elif name == "warmserve_cache_events_total":
                event = labels.get("event")
                if event == "hit":
                    found["cache_hits"] += value
                elif event == "miss":
                    found["cache_misses"] += value
    found["latency_buckets"] = sorted(
        ([float(bound), count] for bound, count in buckets.items()), key=lambda b: b[0]
    )
    return found


def collect_families() -> Iterable[Any]:
    """Every process's metrics, as ``/metrics`` renders them."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry.collect()


class Sampler:
    """Takes a snapshot every ``interval`` seconds and keeps the ring file up to date."""

    def __init__(
        self,
        directory: str | Path,
        interval: float,
        predict_routes: Iterable[str],
        collect: Callable[[], Iterable[Any]] = collect_families,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(directory) / FILE_NAME
        self.interval = interval
        self.predict_routes = tuple(predict_routes)
        self.collect = collect
        self.clock = clock
        size = max(2, min(MAX_SAMPLES, int(WINDOW / interval) + 1))
        self.ring: deque[Snapshot] = deque(maxlen=size)
        self._next = 0.0

    def maybe_sample(self, now: float) -> None:
        """Sample if one is due (``now``: a monotonic clock). Never raises: charts are
        not worth stopping a supervisor for."""
        if now < self._next:
            return
        self._next = now + self.interval
        try:
            self.ring.append(snapshot(self.collect(), self.predict_routes, self.clock()))
            self._write()
        except Exception:
            log.exception("cannot sample the metrics for the status page")

    def _write(self) -> None:
        body = orjson.dumps({"interval": self.interval, "samples": list(self.ring)})
        temporary = self.path.with_name(FILE_NAME + ".tmp")
        temporary.write_bytes(body)
        os.replace(temporary, self.path)


class SampleReader:
    """The ring as the sampler last wrote it; re-read only when the file changed."""

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / FILE_NAME
        self._key: tuple[int, int, int] | None = None
        self._ring: tuple[float | None, list[Snapshot]] = (None, [])

    def read(self) -> tuple[float | None, list[Snapshot]]:
        """(interval, snapshots oldest first); (None, []) before the first sample."""
        try:
            st = self.path.stat()
        except OSError:
            return None, []
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        if key != self._key and st.st_size <= MAX_FILE_BYTES:
            self._key, self._ring = key, _parse(self.path)
        return self._ring


def _parse(path: Path) -> tuple[float | None, list[Snapshot]]:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None, []
    if not isinstance(data, dict) or not isinstance(data.get("samples"), list):
        return None, []
    interval = data.get("interval")
    samples = [s for s in data["samples"] if isinstance(s, dict) and _number(s.get("t"))]
    return (float(interval) if _number(interval) and interval > 0 else None), samples


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)

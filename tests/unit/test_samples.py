"""Snapshots of the summed metrics, the ring file and its reader."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from warmserve.http.charts import series
from warmserve.metrics import HttpMetrics, RunnerMetrics
from warmserve.samples import FILE_NAME, Sampler, SampleReader, snapshot

PREDICT = ("/invocations", "/predict")


def registry_with_traffic() -> tuple[CollectorRegistry, HttpMetrics, RunnerMetrics]:
    """The server's own metric objects in a plain registry (the multiprocess directory is
    read the same way by prometheus_client; it needs the env var before import)."""
    registry = CollectorRegistry()
    http, runner = HttpMetrics(), RunnerMetrics()
    for metric in (http.requests, http.latency, http.in_flight, http.cache, runner.batch_rows,
                   runner.queue_depth):  # fmt: skip
        registry.register(metric)
    return registry, http, runner


def test_snapshot_counts_prediction_routes_only() -> None:
    registry, http, runner = registry_with_traffic()
    for _ in range(3):
        http.record("/invocations", 200, 0.004)
    http.record("/predict", 400, 0.002)
    http.record("/predict", 503, 0.2)
    http.record("/status.json", 200, 0.5)  # the page's own polling is not a prediction
    http.cache.labels("local", "hit").inc(2)
    http.cache.labels("local", "miss").inc()
    http.in_flight.inc()
    runner.batch_rows.observe(3)
    runner.queue_depth.set(4)
    found = snapshot(registry.collect(), PREDICT, now=50.0)
    assert found["t"] == 50.0
    assert found["requests"] == {"2xx": 3.0, "4xx": 1.0, "5xx": 1.0}
    assert found["latency_count"] == 5.0
    buckets = dict((bound, count) for bound, count in found["latency_buckets"])
    assert buckets[0.005] == 4.0 and buckets[float("inf")] == 5.0
    assert (found["rows_sum"], found["rows_count"]) == (3.0, 1.0)
    assert (found["cache_hits"], found["cache_misses"]) == (2.0, 1.0)
    assert (found["queue_depth"], found["in_flight"]) == (4.0, 1.0)


def test_the_sampler_keeps_a_bounded_ring_that_any_reader_sees(tmp_path: Path) -> None:
    registry, http, _ = registry_with_traffic()
    clock = iter(float(t) for t in range(1000))
    sampler = Sampler(tmp_path, 2.0, PREDICT, collect=registry.collect, clock=lambda: next(clock))
    reader = SampleReader(tmp_path)
    assert reader.read() == (None, [])
    for step in range(400):
        http.record("/invocations", 200, 0.003)
        sampler.maybe_sample(step * 2.0)
        sampler.maybe_sample(step * 2.0 + 1.0)  # not due yet: no sample
    interval, samples = reader.read()
    assert interval == 2.0
    assert len(samples) == sampler.ring.maxlen == 301  # ten minutes at 2 s
    assert samples[-1]["requests"] == {"2xx": 400.0}
    assert series(samples)["requests_per_second"]["2xx"][-1] == 1.0
    assert not (tmp_path / (FILE_NAME + ".tmp")).exists()  # written whole, then renamed


def test_a_failing_collection_or_a_bad_file_never_raises(tmp_path: Path) -> None:
    def broken() -> list[object]:
        raise OSError("metrics directory gone")

    Sampler(tmp_path, 1.0, PREDICT, collect=broken).maybe_sample(0.0)
    assert SampleReader(tmp_path).read() == (None, [])
    (tmp_path / FILE_NAME).write_bytes(b'{"interval": "x", "samples": [1, {"t": 3}, {"t": "y"}]}')
    assert SampleReader(tmp_path).read() == (None, [{"t": 3}])
    (tmp_path / FILE_NAME).write_bytes(b"\x00garbage")
    assert SampleReader(tmp_path).read() == (None, [])

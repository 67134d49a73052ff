"""Live series from metric snapshots: rates, Prometheus-style quantiles, gaps."""

from __future__ import annotations

import math
from typing import Any

import pytest

from warmserve.http.charts import histogram_quantile, series

INF = math.inf


def snap(t: float, **values: Any) -> dict[str, Any]:
    return {"t": t, **values}


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        (0.5, [(0.01, 0), (0.1, 10), (INF, 10)], 0.055),  # linear inside (0.01, 0.1]
        (0.5, [(0.01, 10), (0.1, 10), (INF, 10)], 0.005),  # first bucket starts at 0
        (0.99, [(0.01, 5), (0.1, 5), (INF, 10)], 0.1),  # overflow: the highest finite bound
        (0.5, [(0.01, 0), (INF, 0)], None),  # nothing observed
        (0.5, [], None),
    ],
)
def test_histogram_quantile_reads_buckets_like_prometheus(
    q: float, buckets: list[tuple[float, float]], expected: float | None
) -> None:
    found = histogram_quantile(q, buckets)
    assert found == pytest.approx(expected) if expected is not None else found is None


def test_rates_per_status_class_over_each_interval() -> None:
    samples = [
        snap(100, requests={"2xx": 10, "4xx": 1}),
        snap(102, requests={"2xx": 30, "4xx": 1, "5xx": 4}),
        snap(104, requests={"2xx": 30, "4xx": 5, "5xx": 4}),
    ]
    out = series(samples)
    assert out["time"] == [102, 104]
    assert out["requests_per_second"] == {"2xx": [10.0, 0.0], "4xx": [0.0, 2.0], "5xx": [2.0, 0.0]}


def test_latency_quantiles_come_from_the_interval_not_the_whole_history() -> None:
    old = [[0.001, 0], [0.01, 1000], [0.1, 1000], [INF, 1000]]  # 1000 fast ones long ago
    new = [[0.001, 0], [0.01, 1000], [0.1, 1100], [INF, 1100]]  # then 100 slow ones
    out = series([snap(0, latency_buckets=old), snap(2, latency_buckets=new)])
    assert out["latency_ms"]["p50"] == [pytest.approx(55.0)]
    assert out["latency_ms"]["p99"] == [pytest.approx(99.1)]


def test_rows_cache_queue_and_in_flight() -> None:
    samples = [
        snap(0, rows_sum=10, rows_count=10, cache_hits=0, cache_misses=0, queue_depth=0),
        snap(2, rows_sum=74, rows_count=12, cache_hits=3, cache_misses=1, queue_depth=5,
             in_flight=7),
        snap(4, rows_sum=74, rows_count=12, cache_hits=3, cache_misses=1),
    ]  # fmt: skip
    out = series(samples)
    assert out["rows_per_call"] == [32.0, None]  # no predict call: a gap, not a zero
    assert out["cache_hit_rate"] == [0.75, None]
    assert out["queue_depth"] == [5.0, 0.0]
    assert out["in_flight"] == [7.0, 0.0]


def test_bad_or_missing_values_never_raise_and_resets_count_from_zero() -> None:
    samples = [
        snap(0, requests={"2xx": 50}, rows_sum="x", latency_buckets=[["a", 1], [1]]),
        snap(2, requests={"2xx": 4}, rows_sum=True, latency_buckets="nope", queue_depth=None),
        snap(2, requests={"2xx": 9}),  # no time elapsed: skipped
        {"t": "late"},
    ]
    out = series(samples)
    assert out["requests_per_second"]["2xx"][-1] == 2.0  # a reset: 4 new in 2 s
    assert out["latency_ms"]["p50"] == [None] * len(out["time"])
    assert series([]) == series([snap(1)])  # fewer than two samples: empty series
    assert series([])["time"] == []

"""The status page's live series, computed from consecutive metric snapshots.

Each point covers the interval between two snapshots of cumulative totals
(``warmserve.samples``): rates are differences over elapsed time, quantiles
are read from the difference of the histogram buckets the way Prometheus's
``histogram_quantile`` reads them (linear within a bucket), so the page and
the Grafana dashboard compute the same numbers from the same metrics.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

Snapshot = dict[str, Any]
CLASSES = ("2xx", "4xx", "5xx")
QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}


def _num(snapshot: Snapshot, key: str) -> float:
    value = snapshot.get(key, 0.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0.0
    return float(value)


def _grew(before: Snapshot, after: Snapshot, key: str) -> float:
    """Growth of a cumulative value; never negative (a reset counts from zero)."""
    old, new = _num(before, key), _num(after, key)
    return new - old if new >= old else new


def _buckets(snapshot: Snapshot) -> dict[float, float]:
    found: dict[float, float] = {}
    raw = snapshot.get("latency_buckets")
    for item in raw if isinstance(raw, list) else []:
        if (
            isinstance(item, list)
            and len(item) == 2
            and all(isinstance(x, int | float) and not isinstance(x, bool) for x in item)
        ):
            found[float(item[0])] = float(item[1])
    return found


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """Prometheus's estimate of quantile ``q`` from cumulative ``(upper bound, count)``
    pairs sorted by bound (the last one +Inf); None when nothing was observed."""
    if not buckets:
        return None
    total = buckets[-1][1]
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower  # in the overflow bucket: the highest finite bound
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def _rate_by_class(before: Snapshot, after: Snapshot, seconds: float) -> dict[str, float]:
    old, new = before.get("requests"), after.get("requests")
    old = old if isinstance(old, dict) else {}
    new = new if isinstance(new, dict) else {}
    return {group: _grew(old, new, group) / seconds for group in CLASSES}


def series(samples: Sequence[Snapshot]) -> dict[str, Any]:
    """Point i is the interval from sample i-1 to sample i (so one fewer than samples)."""
    out: dict[str, Any] = {
        "time": [],
        "requests_per_second": {group: [] for group in CLASSES},
        "latency_ms": {name: [] for name in QUANTILES},
        "rows_per_call": [],
        "queue_depth": [],
        "cache_hit_rate": [],
        "in_flight": [],
    }
    ordered = sorted(samples, key=lambda s: _num(s, "t"))
    for before, after in itertools.pairwise(ordered):
        seconds = _num(after, "t") - _num(before, "t")
        if seconds <= 0:
            continue
        out["time"].append(round(_num(after, "t"), 3))
        for group, rate in _rate_by_class(before, after, seconds).items():
            out["requests_per_second"][group].append(round(rate, 3))
        old, new = _buckets(before), _buckets(after)
        delta = sorted((bound, max(0.0, n - old.get(bound, 0.0))) for bound, n in new.items())
        for name, q in QUANTILES.items():
            value = histogram_quantile(q, delta)
            out["latency_ms"][name].append(round(value * 1000, 3) if value is not None else None)
        calls = _grew(before, after, "rows_count")
        rows = _grew(before, after, "rows_sum")
        out["rows_per_call"].append(round(rows / calls, 2) if calls else None)
        out["queue_depth"].append(_num(after, "queue_depth"))
        hits = _grew(before, after, "cache_hits")
        lookups = hits + _grew(before, after, "cache_misses")
        out["cache_hit_rate"].append(round(hits / lookups, 4) if lookups else None)
        out["in_flight"].append(_num(after, "in_flight"))
    return out

"""limit_threads caps every loaded native pool and says what it applied."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sklearn.ensemble import HistGradientBoostingClassifier  # loads sklearn's OpenMP runtime
from threadpoolctl import threadpool_info, threadpool_limits

from warmserve.runtime.trees import limit_threads

assert HistGradientBoostingClassifier  # imported for its OpenMP pool, not used


@pytest.fixture
def restored_limits() -> Iterator[None]:
    """Whatever a test sets, the process's original limits come back afterwards."""
    keep = threadpool_limits(limits=None)
    try:
        yield
    finally:
        keep.restore_original_limits()


def test_limit_applies_to_every_pool(restored_limits: None) -> None:
    applied = limit_threads(1)
    assert applied["limit"] == 1
    assert applied["pools"], "sklearn's OpenMP pool should be loaded"
    assert all(pool["num_threads"] == 1 for pool in applied["pools"])
    assert all(info["num_threads"] == 1 for info in threadpool_info())
    assert {pool["api"] for pool in applied["pools"]} >= {"openmp"}


def test_none_leaves_pools_alone(restored_limits: None) -> None:
    before = [info["num_threads"] for info in threadpool_info()]
    applied = limit_threads(None)
    assert applied["limit"] is None
    assert [pool["num_threads"] for pool in applied["pools"]] == before


def test_zero_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        limit_threads(0)

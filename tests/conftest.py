"""Shared fixtures and the two test layers.

``tests/unit`` holds in-process tests of each seam (seconds); ``tests/e2e`` holds tests
with real processes and real services (minutes). Each test is marked with its layer,
so ``pytest -m unit`` runs the fast layer alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        layer = Path(str(item.fspath)).resolve().relative_to(TESTS).parts[0]
        if layer in ("unit", "e2e"):
            item.add_marker(getattr(pytest.mark, layer))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh WARMSERVE_HOME (embedded SQLite registry + artifacts) for one test."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own in the shared Redis; its keys are deleted after."""
    import redis

    from support import REDIS_URL

    prefix = f"warmserve-test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    for name in client.scan_iter(match=prefix + "*"):
        client.delete(name)
    client.close()


@pytest.fixture(scope="module")
def one_openmp_thread() -> Iterator[None]:
    """OpenMP pools spin on a busy 2-core machine and make small fits slow: one thread each."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield

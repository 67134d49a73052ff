"""The watcher with an injected resolver and loader (``fakes.FakeRegistry``): load, swap,
back-off, registry errors, and a loop that survives its own failures."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fakes import SOURCE, FakeRegistry, model_version, served_model
from support import wait_until_async
from warmserve.errors import ModelNotAvailable, RegistryError
from warmserve.metrics import RunnerMetrics
from warmserve.runtime.model import ModelSlot
from warmserve.runtime.watcher import CheckResult, Watcher, version_of
from warmserve.settings import Settings


class Subject:
    def __init__(self, tmp_path: Path, **settings: Any) -> None:
        options: dict[str, Any] = {"model": SOURCE, "poll_interval": 0, **settings}
        self.settings = Settings(home=tmp_path, load_retry_interval=5, **options)
        self.registry = FakeRegistry()
        self.slot = ModelSlot()
        self.published: list[str | None] = []
        self.metrics = RunnerMetrics()
        self.watcher = self.make()

    def make(self, **kwargs: Any) -> Watcher:
        return Watcher(
            self.settings,
            self.slot,
            self.on_change,
            self.metrics,
            loader=self.registry.load,
            resolver=self.registry.resolve,
            **kwargs,
        )

    def on_change(self) -> None:
        current = self.slot.current
        self.published.append(current.version.version if current else None)

    @property
    def serving(self) -> str | None:
        current = self.slot.current
        return current.version.version if current else None


@pytest.fixture
async def subject(tmp_path: Path) -> AsyncIterator[Subject]:
    made = Subject(tmp_path)
    yield made
    made.watcher.close()


def total(metric: Any) -> float:
    (family,) = metric.collect()
    return float(next(s.value for s in family.samples if s.name.endswith("_total")))


async def test_first_load_then_the_same_version_is_not_loaded_again(subject: Subject) -> None:
    assert await subject.watcher.check() == CheckResult("1")
    assert subject.serving == "1" and subject.published == ["1"]
    assert await subject.watcher.check() == CheckResult("1")
    assert subject.registry.loads == ["1"] and subject.published == ["1"]
    assert subject.watcher.status().checks == 2


async def test_a_new_version_swaps_and_is_published_once(subject: Subject) -> None:
    await subject.watcher.check()
    first = subject.slot.current
    subject.registry.target = "2"
    assert await subject.watcher.check() == CheckResult("2")
    assert subject.serving == "2" and subject.published == ["1", "2"]
    assert subject.slot.current is not first
    assert total(subject.metrics.reloads) == 2


async def test_a_failing_version_is_kept_out_with_back_off_and_the_old_one_serves(
    subject: Subject,
) -> None:
    await subject.watcher.check()
    subject.registry.target = "2"
    subject.registry.broken.add("2")
    result = await subject.watcher.check()
    assert result == CheckResult("1", "version 2 does not load")
    failure = subject.watcher.failure
    assert failure is not None and (failure.version, failure.attempts) == ("2", 1)
    assert subject.serving == "1"
    assert subject.watcher.status().last_failure == failure

    await subject.watcher.check()  # within the back-off: not tried again
    assert subject.registry.loads == ["1", "2"]
    assert subject.watcher.failure.attempts == 1  # type: ignore[union-attr]

    await subject.watcher.check(explicit=True)  # /reload: tried at once
    assert subject.registry.loads == ["1", "2", "2"]
    assert subject.watcher.failure.attempts == 2  # type: ignore[union-attr]
    assert total(subject.metrics.reload_failures) == 2

    # the back-off grows with the attempts, bounded by the poll interval
    subject.settings.poll_interval = 1000
    assert subject.watcher._interval() == 10.0  # load_retry_interval * 2 ** (attempts - 1)
    subject.settings.poll_interval = 7
    assert subject.watcher._interval() == 7

    assert subject.watcher.failure is not None
    subject.watcher.failure = dataclasses.replace(subject.watcher.failure, at=0.0)  # long ago
    subject.registry.broken.clear()
    assert await subject.watcher.check() == CheckResult("2")
    assert subject.watcher.failure is None and subject.published[-1] == "2"


async def test_registry_errors_are_recorded_and_cleared(subject: Subject) -> None:
    await subject.watcher.check()
    subject.registry.resolve_error = RegistryError("registry unreachable: connection refused")
    result = await subject.watcher.check()
    assert result == CheckResult("1", "registry unreachable: connection refused")
    assert subject.watcher.status().registry_error == "registry unreachable: connection refused"
    assert total(subject.metrics.registry_errors) == 1
    subject.registry.resolve_error = None
    assert await subject.watcher.check() == CheckResult("1")
    assert subject.watcher.status().registry_error is None


async def test_a_source_that_disappears_keeps_the_last_good_version(subject: Subject) -> None:
    await subject.watcher.check()
    subject.registry.resolve_error = ModelNotAvailable("alias 'production' no longer exists")
    await subject.watcher.check()
    assert subject.watcher.status().source_missing == "alias 'production' no longer exists"
    assert subject.serving == "1"
    subject.registry.resolve_error = None
    await subject.watcher.check()
    assert subject.watcher.status().source_missing is None


async def test_no_source_configured(tmp_path: Path) -> None:
    subject = Subject(tmp_path, model=None)
    assert await subject.watcher.check() == CheckResult(None, "no model source configured")
    assert subject.registry.resolves == 0
    assert subject.watcher._interval() == 5  # nothing served: retry at load_retry_interval


async def test_a_resumed_version_loads_without_asking_the_registry(subject: Subject) -> None:
    watcher = subject.make(resume=version_of(served_model("4")))
    try:
        assert await watcher.check() == CheckResult("4")
        assert subject.registry.resolves == 0
        await watcher.check()  # the next check follows the source again
        assert subject.registry.resolves == 1 and subject.serving == "1"
    finally:
        watcher.close()


def test_version_of_a_served_model_is_the_pinned_version() -> None:
    assert version_of(served_model("3")) == dataclasses.replace(
        model_version("3"), alias=None, run_id=None
    )


async def test_run_survives_an_unexpected_error_and_explicit_checks_answer(
    subject: Subject,
) -> None:
    subject.registry.resolve_error = RuntimeError("a bug in the resolver")
    running = asyncio.create_task(subject.watcher.run())
    try:
        await wait_until_async(lambda: subject.watcher.checks >= 1, what="the first check")
        result = await asyncio.wait_for(subject.watcher.request_check(), 5)
        assert result.version is None and "a bug in the resolver" in (result.error or "")
        assert not running.done()
        subject.registry.resolve_error = None
        result = await asyncio.wait_for(subject.watcher.request_check(), 5)
        assert result == CheckResult("1")
        assert subject.published[-1] == "1"
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running


async def test_each_check_is_published_exactly_once(subject: Subject) -> None:
    running = asyncio.create_task(subject.watcher.run())
    try:
        await wait_until_async(lambda: subject.serving == "1", what="version 1")
        assert subject.published == ["1"]  # a swap is published once, not twice
        subject.registry.target = "2"
        await asyncio.wait_for(subject.watcher.request_check(), 5)
        assert subject.published == ["1", "2"]
        await asyncio.wait_for(subject.watcher.request_check(), 5)  # nothing new but the count
        assert subject.published == ["1", "2", "2"]
        assert subject.watcher.status().checks == 3
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

"""PredictionService below HTTP: a fake runner client (no runner process here) and a
real LocalCache (LMDB in a tmp dir)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fakes import FakeRunnerClient, served_model
from warmserve.cache import cache_key
from warmserve.cache.local import LocalCache
from warmserve.errors import ModelNotAvailable
from warmserve.http.codecs import ModelInput
from warmserve.http.routes import Prediction
from warmserve.http.service import READY_GRACE, PredictionService
from warmserve.metrics import HttpMetrics
from warmserve.protocol import InputForm
from warmserve.settings import Settings

ROWS = ModelInput(InputForm.RECORDS, [{"x": 1.0}], {"threshold": 0.5})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", request_timeout=7.0)


@pytest.fixture
async def cache(tmp_path: Path) -> AsyncIterator[LocalCache]:
    local = LocalCache(tmp_path / "cache", max_bytes=8 * 1024 * 1024)
    yield local
    await local.close()


def events(metrics: HttpMetrics) -> dict[tuple[str, str], float]:
    (family,) = metrics.cache.collect()
    return {
        (s.labels["backend"], s.labels["event"]): s.value
        for s in family.samples
        if s.name.endswith("_total")
    }


async def test_without_a_cache_every_request_goes_to_the_runner(settings: Settings) -> None:
    client = FakeRunnerClient(served_model("1"), body=b"[2.0]")
    service = PredictionService(settings, client)  # type: ignore[arg-type]
    first = await service.predict(ROWS)
    second = await service.predict(ROWS)
    assert first == second == Prediction(b"[2.0]", "1", "m", cached=False)
    assert len(client.calls) == 2
    assert client.calls[0] == {
        "form": InputForm.RECORDS,
        "data": [{"x": 1.0}],
        "params": {"threshold": 0.5},
        "timeout": 7.0,
    }


async def test_nothing_served_is_a_503_after_a_short_grace(settings: Settings) -> None:
    client = FakeRunnerClient(None)
    service = PredictionService(settings, client)  # type: ignore[arg-type]
    with pytest.raises(ModelNotAvailable) as caught:
        await service.predict(ROWS)
    assert caught.value.status == 503 and caught.value.retry_after == 1
    assert client.waited == [READY_GRACE] and client.calls == []


async def test_a_runner_that_reconnects_within_the_grace_answers(settings: Settings) -> None:
    client = FakeRunnerClient(None)
    client.becomes_ready = served_model("4")
    service = PredictionService(settings, client)  # type: ignore[arg-type]
    assert (await service.predict(ROWS)).version == "4"


async def test_a_miss_is_stored_and_the_next_request_is_a_hit(
    settings: Settings, cache: LocalCache
) -> None:
    client = FakeRunnerClient(served_model("1"), body=b"[2.0]")
    metrics = HttpMetrics()
    service = PredictionService(settings, client, cache, metrics)  # type: ignore[arg-type]
    miss = await service.predict(ROWS)
    hit = await service.predict(ROWS)
    assert miss == Prediction(b"[2.0]", "1", "m", cached=False)
    assert hit == Prediction(b"[2.0]", "1", "m", cached=True)
    assert len(client.calls) == 1
    assert events(metrics) == {("local", "miss"): 1.0, ("local", "hit"): 1.0}
    other_params = ModelInput(InputForm.RECORDS, [{"x": 1.0}], {"threshold": 0.6})
    assert not (await service.predict(other_params)).cached


async def test_the_key_holds_the_served_version(settings: Settings, cache: LocalCache) -> None:
    client = FakeRunnerClient(served_model("1"), body=b"[2.0]")
    service = PredictionService(settings, client, cache)  # type: ignore[arg-type]
    await service.predict(ROWS)
    client.current = served_model("2")  # a swap: entries of version 1 are never found
    client.body = b"[3.0]"
    after = await service.predict(ROWS)
    assert after == Prediction(b"[3.0]", "2", "m", cached=False)
    assert len(client.calls) == 2


async def test_a_reply_from_another_version_is_stored_under_that_version(
    settings: Settings, cache: LocalCache
) -> None:
    client = FakeRunnerClient(served_model("1"), body=b"[5.0]")
    client.reply_version = "2"  # the swap landed while the request was in flight
    service = PredictionService(settings, client, cache)  # type: ignore[arg-type]
    answer = await service.predict(ROWS)
    assert answer.version == "2" and not answer.cached

    def key(version: str) -> bytes:
        return cache_key("m", version, "records", ROWS.data, ROWS.params)

    assert await cache.get(key("1"), "1") is None
    stored = await cache.get(key("2"), "2")
    assert stored is not None and (stored.body, stored.version) == (b"[5.0]", "2")

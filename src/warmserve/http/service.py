"""What a prediction route does below HTTP: cache lookup, then the runner, with a deadline.

``PredictionService.predict(ModelInput) -> Prediction`` knows nothing of routes
or envelopes. The cache key holds the version this worker knows is served, so
after a swap no entry of an older version is found. A miss is stored under the
version that actually answered (a swap may land while the request is in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from typing import Any

from warmserve.cache import CachedPrediction, PredictionCache, cache_key
from warmserve.errors import ModelNotAvailable, NotFound
from warmserve.http.codecs import ModelInput
from warmserve.http.exchange import ModelRef, Prediction
from warmserve.http.packing import pack
from warmserve.ipc.client import RunnerClient
from warmserve.metrics import HttpMetrics
from warmserve.protocol import DEFAULT_MODEL, OutputForm
from warmserve.settings import Settings

log = logging.getLogger("warmserve.http")

READY_GRACE = 0.25  # seconds a request waits for a reconnecting worker before a 503


class PredictionService:
    def __init__(
        self,
        settings: Settings,
        client: RunnerClient,
        cache: PredictionCache | None = None,
        metrics: HttpMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.cache = cache
        self.metrics = metrics

    async def predict(
        self,
        model_input: ModelInput,
        model: str = DEFAULT_MODEL,
        output: OutputForm = OutputForm.MLFLOW_JSON,
        wanted: ModelRef | None = None,
    ) -> Prediction:
        """``wanted``: the model and version the request names (404 if not the served one,
        also when a swap lands while the request is in flight)."""
        served = self.client.served(model)
        if served is None and await self.client.wait_ready(READY_GRACE, model):
            served = self.client.served(model)
        if served is None:
            raise ModelNotAvailable("model is not available", retry_after=1)
        if wanted is not None:
            wanted.check(served)
        name = served.name
        cache = self.cache if model_input.cacheable else None
        form = _cache_form(model_input, output)
        data = _key_data(model_input.key_data)
        bare = model_input.bare
        if cache is not None:
            key = cache_key(name, served.version, form, data, model_input.params)
            hit = await cache.get(key, served.version)
            self._count(cache.name, "hit" if hit is not None else "miss")
            if hit is not None:
                return Prediction(hit.body, hit.version, name, cached=True, bare=bare)
        wire = pack(model_input, served)
        reply = await self.client.predict(
            wire.form,
            wire.data,
            wire.params,
            self.settings.request_timeout,
            model=model,
            output=output,
        )
        if cache is not None:
            if reply.version != served.version:
                key = cache_key(name, reply.version, form, data, model_input.params)
            await cache.put(key, CachedPrediction(reply.body, reply.version))
        if wanted is not None and wanted.version not in (None, reply.version):
            raise NotFound(
                f"version {wanted.version!r} was swapped out while this request was in flight "
                f"(version {reply.version!r} answered)",
                version=reply.version,
            )
        return Prediction(reply.body, reply.version, name, cached=False, bare=bare)

    def _count(self, backend: str, event: str) -> None:
        if self.metrics is not None:
            self.metrics.cache.labels(backend, event).inc()


def _key_data(data: Any) -> Any:
    """The input as the cache key sees it: a binary body (Parquet) by its digest."""
    if isinstance(data, bytes):
        return "sha256:" + hashlib.sha256(data).hexdigest()
    return data


def _cache_form(model_input: ModelInput, output: OutputForm) -> str:
    """The form part of a cache key: the input form, and the output form unless MLflow JSON."""
    form = model_input.form.value
    return form if output is OutputForm.MLFLOW_JSON else f"{form}:{output.value}"


class CacheReporter:
    """Copies the backend's own counters (errors, rejected entries, evictions) into
    the shared metrics once a second, off the request path."""

    INTERVAL = 1.0

    def __init__(self, cache: PredictionCache, metrics: HttpMetrics) -> None:
        self.cache = cache
        self.metrics = metrics
        self._seen = {"error": 0, "rejected": 0}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="cache-reporter")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.report()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.INTERVAL)
            self.report()

    def report(self) -> None:
        stats = self.cache.stats()
        for event, total in (("error", stats.errors), ("rejected", stats.rejected)):
            delta = total - self._seen[event]
            if delta > 0:
                self.metrics.cache.labels(self.cache.name, event).inc(delta)
                self._seen[event] = total
        # evictions of the local store are already store-wide: a gauge, max over workers
        self.metrics.cache_evictions.labels(self.cache.name).set(stats.evictions)

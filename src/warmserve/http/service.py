"""What a prediction route does below HTTP: cache lookup, then the runner, with a deadline.

The cache key holds the version this worker knows is served, so after a swap
no entry of an older version is found. A miss is stored under the version that
actually answered (a swap may land while the request is in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import orjson

from warmserve.cache import CachedPrediction, PredictionCache, cache_key
from warmserve.errors import ModelNotAvailable, PayloadTooLarge, WarmserveError
from warmserve.http.answers import Answer, error_answer
from warmserve.http.codecs import ModelInput, decode_invocations, decode_predict
from warmserve.ipc.client import RunnerClient
from warmserve.metrics import HttpMetrics
from warmserve.settings import Settings

log = logging.getLogger("warmserve.http")

READY_GRACE = 0.25  # seconds a request waits for a reconnecting worker before a 503


@dataclass(frozen=True, slots=True)
class Prediction:
    body: bytes  # JSON text of the predictions
    version: str
    cached: bool


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

    async def predict(self, model_input: ModelInput) -> Prediction:
        model = self.client.model
        if model is None and await self.client.wait_ready(READY_GRACE):
            model = self.client.model
        if model is None:
            raise ModelNotAvailable("model is not available", retry_after=1)
        cache = self.cache
        if cache is not None:
            name = model.get("name")
            key = cache_key(name, model["version"], *_parts(model_input))
            hit = await cache.get(key)
            self._count(cache.name, "hit" if hit is not None else "miss")
            if hit is not None:
                return Prediction(hit.body, hit.version, cached=True)
        reply = await self.client.predict(
            model_input.fmt, model_input.data, model_input.params, self.settings.request_timeout
        )
        if cache is not None:
            if reply.version != model["version"]:
                key = cache_key(name, reply.version, *_parts(model_input))
            await cache.put(key, CachedPrediction(reply.body, reply.version))
        return Prediction(reply.body, reply.version, cached=False)

    async def answer(self, route: str, body: bytes, content_type: str | None) -> Answer:
        """The whole response to a POST on a prediction route; never raises."""
        try:
            if len(body) > self.settings.max_body_bytes:
                raise PayloadTooLarge(
                    f"the body exceeds the limit of {self.settings.max_body_bytes} bytes"
                )
            if route == "/predict":
                prediction = await self.predict(decode_predict(body, content_type))
                name = (self.client.model or {}).get("name")
                meta = orjson.dumps({"name": name, "version": prediction.version})
                payload = b'{"predictions":' + prediction.body + b',"model":' + meta + b"}"
            else:
                prediction = await self.predict(decode_invocations(body, content_type))
                payload = b'{"predictions":' + prediction.body + b"}"
        except WarmserveError as exc:
            return error_answer(exc)
        except Exception:
            log.exception("unexpected error on POST %s", route)
            return error_answer(WarmserveError("internal error while predicting"))
        headers = {"X-Model-Version": prediction.version, "X-Replica": self.settings.replica_name}
        if self.cache is not None:
            headers["X-Cache"] = "hit" if prediction.cached else "miss"
        return Answer(200, payload, headers)

    def _count(self, backend: str, event: str) -> None:
        if self.metrics is not None:
            self.metrics.cache.labels(backend, event).inc()


def _parts(model_input: ModelInput) -> tuple[str, object, dict[str, object] | None]:
    return model_input.fmt, model_input.data, model_input.params


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

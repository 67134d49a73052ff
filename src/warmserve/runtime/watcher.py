"""Follow the model source and swap versions: load new, warm up, swap, release old.

Registry calls and loading block, so they run on a dedicated thread; the
runner's event loop keeps answering pings and predictions meanwhile. The
alias is resolved to a pinned version first and that version is what loads,
so an alias moving mid-load cannot mix two versions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from warmserve.errors import ModelNotAvailable, RegistryError, WarmserveError
from warmserve.metrics import RunnerMetrics
from warmserve.registry import ModelVersion, connect, resolve
from warmserve.runtime.model import LoadedModel, ModelSlot, load_model
from warmserve.settings import Settings

log = logging.getLogger("warmserve.watcher")

MAX_BACKOFF = 300.0


@dataclass
class LoadFailure:
    version: str
    error: str
    at: float
    attempts: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "error": self.error,
            "time": datetime.fromtimestamp(self.at, UTC).isoformat(),
            "attempts": self.attempts,
        }


class Watcher:
    def __init__(
        self,
        settings: Settings,
        slot: ModelSlot,
        on_change: Callable[[], None],
        metrics: RunnerMetrics,
        resume: ModelVersion | None = None,
        loader: Callable[[ModelVersion], LoadedModel] = load_model,
    ) -> None:
        self.settings = settings
        self.slot = slot
        self.on_change = on_change
        self.metrics = metrics
        self.loader = loader
        self._resume = resume
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="watcher")
        self._wake = asyncio.Event()
        self._waiters: list[asyncio.Future[dict[str, Any]]] = []
        self._client: Any = None
        self.failure: LoadFailure | None = None
        self.registry_error: str | None = None
        self.source_missing: str | None = None
        self.checks = 0

    # --- public ---------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return {
            "source": self.settings.model,
            "last_failure": self.failure.to_dict() if self.failure else None,
            "registry_error": self.registry_error,
            "source_missing": self.source_missing,
            "checks": self.checks,
        }

    def request_check(self) -> asyncio.Future[dict[str, Any]]:
        """Ask for an immediate check; the future resolves when it has run."""
        log.info("model reload request received")
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        self._wake.set()
        return future

    async def run(self) -> None:
        if self.settings.model is None:
            log.warning("model is not available: no model source configured (--model)")
        while True:
            explicit = bool(self._waiters)
            waiters, self._waiters = self._waiters, []
            self._wake.clear()
            result = await self.check(explicit=explicit)
            self.on_change()  # publish the outcome, whatever changed
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(result)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval())

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    # --- one check --------------------------------------------------------------
    def _interval(self) -> float | None:
        if self.slot.current is None:
            return self.settings.load_retry_interval
        if self.failure is not None and self.settings.poll_interval > 0:
            return min(self.settings.poll_interval, self._backoff())
        return self.settings.poll_interval or None

    def _backoff(self) -> float:
        attempts = self.failure.attempts if self.failure else 0
        base = self.settings.load_retry_interval
        return float(min(MAX_BACKOFF, base * 2 ** max(0, attempts - 1)))

    async def check(self, explicit: bool = False) -> dict[str, Any]:
        """Resolve the source and load what it points to if it is new."""
        self.checks += 1
        if self.settings.model is None:
            return self._result(error="no model source configured")
        loop = asyncio.get_running_loop()
        try:
            if self._resume is not None:
                target, self._resume = self._resume, None
            else:
                target = await loop.run_in_executor(self._executor, self._resolve)
        except WarmserveError as exc:
            return self._resolve_failed(exc)
        if self.registry_error is not None:
            log.warning("registry reachable again")
            self.registry_error = None
        self.source_missing = None
        current = self.slot.current
        if current is not None and current.version == target:
            return self._result()
        if self._in_backoff(target) and not explicit:
            return self._result(error=self.failure.error if self.failure else None)
        log.info("loading %s (version %s)", target.load_uri, target.version)
        self.metrics.reloads.inc()
        try:
            loaded = await loop.run_in_executor(self._executor, self.loader, target)
        except WarmserveError as exc:
            return self._load_failed(target, exc)
        old = self.slot.swap(loaded)
        self.failure = None
        self.metrics.load_seconds.observe(loaded.load_seconds)
        if old is not None:
            self.metrics.model_info.labels(old.version.name or "", old.version.version).set(0)
        self.metrics.model_info.labels(target.name or "", target.version).set(1)
        log.info(
            "serving %s version %s (loaded in %.2fs)",
            target.name,
            target.version,
            loaded.load_seconds,
        )
        self.on_change()
        await loop.run_in_executor(self._executor, ModelSlot.release, old)
        del old
        return self._result()

    def _resolve(self) -> ModelVersion:
        if self._client is None:
            self._client = connect(self.settings)
        assert self.settings.model is not None
        return resolve(self.settings.model, self._client)

    def _in_backoff(self, target: ModelVersion) -> bool:
        failure = self.failure
        if failure is None or failure.version != target.version:
            return False
        return time.time() - failure.at < self._backoff()

    def _resolve_failed(self, exc: WarmserveError) -> dict[str, Any]:
        if isinstance(exc, RegistryError):
            self.metrics.registry_errors.inc()
            if self.registry_error is None:
                log.warning("registry unreachable, keeping the current model: %s", exc.message)
            self.registry_error = exc.message
        elif isinstance(exc, ModelNotAvailable) and self.slot.current is not None:
            if self.source_missing is None:
                log.warning("%s; still serving the last good version", exc.message)
            self.source_missing = exc.message
        if self.slot.current is None:
            log.warning("model is not available: %s", exc.message)
        return self._result(error=exc.message)

    def _load_failed(self, target: ModelVersion, exc: WarmserveError) -> dict[str, Any]:
        same = self.failure is not None and self.failure.version == target.version
        attempts = self.failure.attempts + 1 if same and self.failure else 1
        self.failure = LoadFailure(target.version, exc.message, time.time(), attempts)
        self.metrics.reload_failures.inc()
        log.error("version %s not loaded (attempt %d): %s", target.version, attempts, exc.message)
        if self.slot.current is None:
            log.warning("model is not available: %s", exc.message)
        return self._result(error=exc.message)

    def _result(self, error: str | None = None) -> dict[str, Any]:
        current = self.slot.current
        return {
            "version": current.version.version if current else None,
            "error": error,
        }

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

from warmserve.errors import ModelNotAvailable, RegistryError, WarmserveError
from warmserve.metrics import RunnerMetrics
from warmserve.protocol import LoadFailure, ServedModel, WatcherStatus
from warmserve.registry import ModelVersion, connect, resolve
from warmserve.runtime.model import Loader, ModelSlot, load_model
from warmserve.settings import Settings

log = logging.getLogger("warmserve.watcher")

MAX_BACKOFF = 300.0


@dataclass(frozen=True, slots=True)
class CheckResult:
    version: str | None  # served after the check
    error: str | None = None


def version_of(served: ServedModel) -> ModelVersion:
    """The pinned version a served model came from (to load it again after a restart)."""
    return ModelVersion(
        source=served.source or "",
        load_uri=served.load_uri or "",
        name=served.name,
        version=served.version,
        alias=served.alias,
        run_id=served.run_id,
    )


class Watcher:
    def __init__(
        self,
        settings: Settings,
        slot: ModelSlot,
        on_change: Callable[[], None],
        metrics: RunnerMetrics,
        resume: ModelVersion | None = None,
        loader: Loader = load_model,
        resolver: Callable[[], ModelVersion] | None = None,
    ) -> None:
        self.settings = settings
        self.slot = slot
        self.on_change = on_change
        self.metrics = metrics
        self.loader = loader
        self.resolver = resolver or self._resolve
        self._resume = resume
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="watcher")
        self._wake = asyncio.Event()
        self._waiters: list[asyncio.Future[CheckResult]] = []
        self._client: object = None
        self.failure: LoadFailure | None = None
        self.registry_error: str | None = None
        self.source_missing: str | None = None
        self.checks = 0
        self._published = -1  # the check whose outcome was last published

    # --- public ---------------------------------------------------------------
    def status(self, healthy: bool = True) -> WatcherStatus:
        return WatcherStatus(
            source=self.settings.model,
            checks=self.checks,
            last_failure=self.failure,
            registry_error=self.registry_error,
            source_missing=self.source_missing,
            healthy=healthy,
        )

    def request_check(self) -> asyncio.Future[CheckResult]:
        """Ask for an immediate check; the future resolves when it has run."""
        log.info("model reload request received")
        future: asyncio.Future[CheckResult] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        self._wake.set()
        return future

    def served(self) -> CheckResult:
        current = self.slot.current
        return CheckResult(current.version.version if current else None)

    async def run(self) -> None:
        """Check, publish, wait; forever. An unexpected error fails one check, not the loop."""
        if self.settings.model is None:
            log.warning("model is not available: no model source configured (--model)")
        while True:
            explicit = bool(self._waiters)
            waiters, self._waiters = self._waiters, []
            self._wake.clear()
            try:
                result = await self.check(explicit=explicit)
            except Exception as exc:
                log.exception("model source check failed unexpectedly")
                result = CheckResult(self.served().version, f"unexpected error: {exc!r}")
            if self._published != self.checks:
                self.on_change()  # publish the outcome once, whatever changed
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

    async def check(self, explicit: bool = False) -> CheckResult:
        """Resolve the source and load what it points to if it is new."""
        self.checks += 1
        if self.settings.model is None:
            return self._result(error="no model source configured")
        loop = asyncio.get_running_loop()
        try:
            if self._resume is not None:
                target, self._resume = self._resume, None
            else:
                target = await loop.run_in_executor(self._executor, self.resolver)
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
        self.on_change()  # workers learn the new version before the old one is released
        self._published = self.checks
        self.metrics.load_seconds.observe(loaded.served.load_seconds)
        if old is not None:
            self.metrics.model_info.labels(old.version.name or "", old.version.version).set(0)
        self.metrics.model_info.labels(target.name or "", target.version).set(1)
        log.info(
            "serving %s version %s (loaded in %.2fs, predictor %s)",
            target.name,
            target.version,
            loaded.served.load_seconds,
            loaded.predictor.name,
        )
        await loop.run_in_executor(self._executor, ModelSlot.release, old)
        del old
        return self._result()

    def _resolve(self) -> ModelVersion:
        if self._client is None:
            self._client = connect(self.settings)
        assert self.settings.model is not None
        return resolve(self.settings.model, self._client)  # type: ignore[arg-type]

    def _in_backoff(self, target: ModelVersion) -> bool:
        failure = self.failure
        if failure is None or failure.version != target.version:
            return False
        return time.time() - failure.at < self._backoff()

    def _resolve_failed(self, exc: WarmserveError) -> CheckResult:
        if isinstance(exc, RegistryError):
            self.metrics.registry_errors.inc()
            if self.registry_error is None:
                log.warning("registry unreachable, keeping the current model: %s", exc.message)
            self.registry_error = exc.message
        elif isinstance(exc, ModelNotAvailable):
            if self.source_missing is None and self.slot.current is not None:
                log.warning("%s; still serving the last good version", exc.message)
            self.source_missing = exc.message  # also with nothing served: the page says why
        if self.slot.current is None:
            log.warning("model is not available: %s", exc.message)
        return self._result(error=exc.message)

    def _load_failed(self, target: ModelVersion, exc: WarmserveError) -> CheckResult:
        same = self.failure is not None and self.failure.version == target.version
        attempts = self.failure.attempts + 1 if same and self.failure else 1
        self.failure = LoadFailure(target.version, exc.message, time.time(), attempts)
        self.metrics.reload_failures.inc()
        log.error("version %s not loaded (attempt %d): %s", target.version, attempts, exc.message)
        if self.slot.current is None:
            log.warning("model is not available: %s", exc.message)
        return self._result(error=exc.message)

    def _result(self, error: str | None = None) -> CheckResult:
        return CheckResult(self.served().version, error)

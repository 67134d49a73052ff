"""One model host: a slot, its watcher, its queue and its batch loop.

The runner keeps a map of hosts by model key (one today). Each host's event
loop code only moves requests and makes batching decisions; predict runs on
the host's own thread, so pings are answered while a batch is predicting and
the supervisor can tell a hung predict (``busy_for`` keeps growing) from a busy
one.

Supervised: an unexpected error in a step of the batch loop fails only the
requests of that step (logged); if a loop task dies anyway, the host reports
itself unhealthy, workers stop calling the server ready, and the supervisor
replaces the runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from warmserve.errors import DeadlineExceeded, ModelNotAvailable, ShuttingDown, WarmserveError
from warmserve.metrics import RunnerMetrics
from warmserve.process import trim_memory
from warmserve.protocol import (
    HostStatus,
    Message,
    ModelState,
    PredictReply,
    PredictRequest,
    WorkerError,
)
from warmserve.registry import ModelVersion
from warmserve.runtime.batch import (
    Job,
    Outcome,
    Pending,
    batch_key,
    chunks,
    execute,
    execute_inline,
    payload_rows,
    request_rows,
)
from warmserve.runtime.batching import BatchPolicy, plan_batch
from warmserve.runtime.lane import Lane
from warmserve.runtime.model import LoadedModel, Loader, ModelSlot, load_model
from warmserve.runtime.watcher import Watcher
from warmserve.settings import Settings

log = logging.getLogger("warmserve.runner")

Reply = Callable[[Any, Message], None]  # (connection, message): send without waiting
TRIM_AFTER_ROWS = 10_000  # give freed memory back to the OS after batches this large


class ModelHost:
    def __init__(
        self,
        key: str,
        settings: Settings,
        metrics: RunnerMetrics,
        reply: Reply,
        on_state: Callable[[ModelHost], None],
        resume: ModelVersion | None = None,
        loader: Loader | None = None,
        resolver: Callable[[], ModelVersion] | None = None,
    ) -> None:
        self.key = key
        self.settings = settings
        self.metrics = metrics
        self.reply = reply
        self.policy = BatchPolicy(settings.max_batch_size, settings.max_batch_delay)
        self.chunk_rows = settings.chunk_rows
        self.slot = ModelSlot()
        self.watcher = Watcher(
            settings,
            self.slot,
            lambda: on_state(self),
            metrics,
            resume=resume,
            loader=loader or _default_loader(settings),
            resolver=resolver,
        )
        self._on_state = on_state
        self.queue: deque[Pending] = deque()
        self.jobs: dict[tuple[int, int], Job] = {}  # (connection id, request id) -> job
        self.busy_since: float | None = None
        self.free_since = time.monotonic()
        self.batches = 0
        self.healthy = True
        self._stopping = False
        self._lane = Lane(f"predict-{key}")
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()  # nothing queued and no predict running
        self._idle.set()
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle --------------------------------------------------------------
    def start(self) -> None:
        for name, coro in (("watcher", self.watcher.run()), ("batcher", self._batch_loop())):
            task = asyncio.create_task(coro, name=f"{name}-{self.key}")
            task.add_done_callback(self._loop_ended)
            self._tasks.append(task)

    def _loop_ended(self, task: asyncio.Task[None]) -> None:
        if self._stopping or task.cancelled():
            return
        error = task.exception()
        log.critical(
            "the %s loop of model %s ended (%r): reporting not ready so this process is replaced",
            task.get_name(),
            self.key,
            error,
        )
        self.healthy = False
        self._on_state(self)

    async def stop(self, grace: float) -> None:
        """Finish what is queued (up to ``grace`` seconds), then fail the rest."""
        self._stopping = True
        for task in self._tasks:
            if "watcher" in task.get_name():
                task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace)
        for task in self._tasks:
            task.cancel()
        for pending in self.queue:
            self._fail(pending, ShuttingDown("the model process is shutting down"))
        self.queue.clear()
        self.watcher.close()
        self._lane.close()

    # --- what the runner asks ----------------------------------------------------
    def state(self) -> ModelState:
        current = self.slot.current
        served = current.served if current is not None else None
        return ModelState(self.key, served, self.watcher.status(self.healthy))

    def status(self) -> HostStatus:
        busy = time.monotonic() - self.busy_since if self.busy_since is not None else 0.0
        current = self.slot.current
        return HostStatus(
            version=current.served.version if current else None,
            busy_for=busy,
            queued=len(self.queue),
            batches=self.batches,
            healthy=self.healthy,
        )

    def submit(self, request: PredictRequest, conn: Any) -> None:
        """Queue a request (or its first part); never raises."""
        if self.slot.current is None:
            self.reply(conn, _error(request.id, ModelNotAvailable("model is not available")))
            return
        rows = request_rows(request)
        parts = chunks(request, rows, self.chunk_rows)
        job = Job(request, conn, rows, batch_key(request), parts=parts[1:])
        self.jobs[(id(conn), request.id)] = job
        idle = self.busy_since is None and not self.queue
        self._enqueue(job, parts[0], len(parts) == 1, idle)

    def cancel(self, conn: Any, request_id: int) -> bool:
        """Drop a request whose client has gone, unless the model is already on it."""
        job = self.jobs.pop((id(conn), request_id), None)
        if job is None:
            return False
        job.cancelled = True
        job.parts.clear()
        self._remove(lambda pending: pending.job is job)
        self.metrics.cancelled.inc()
        return True

    def drop_connection(self, conn: Any) -> None:
        """A worker went away: nobody waits for its requests any more."""
        for (conn_id, request_id), job in list(self.jobs.items()):
            if conn_id == id(conn):
                self.cancel(job.conn, request_id)

    # --- batching ---------------------------------------------------------------
    def _enqueue(self, job: Job, data: Any, last: bool, idle: bool) -> None:
        rows = payload_rows(job.request.form, data)
        self.queue.append(Pending(job, data, rows, time.monotonic(), idle, last))
        self.metrics.queue_depth.inc()
        self._idle.clear()
        self._wake.set()

    async def _batch_loop(self) -> None:
        while True:
            plan = plan_batch(self.queue, time.monotonic(), self.free_since, self.policy)
            if not plan.take:
                if not self.queue and self.busy_since is None:
                    self._idle.set()
                self._wake.clear()
                await self._sleep(plan.wait)
                continue
            batch = self._pop(plan.take)
            try:
                await self._run(batch)
            except Exception as exc:
                log.exception("model %s: a batch of %d failed unexpectedly", self.key, len(batch))
                for pending in batch:
                    self._fail(
                        pending, WarmserveError(f"internal error in the model process: {exc!r}")
                    )

    async def _sleep(self, seconds: float | None) -> None:
        """Until woken by a request, or ``seconds`` (a timer, not asyncio.wait_for: this is
        on every request's path and wait_for costs a task and a future per call)."""
        if seconds is None:
            await self._wake.wait()
            return
        timer = asyncio.get_running_loop().call_later(seconds, self._wake.set)
        try:
            await self._wake.wait()
        finally:
            timer.cancel()

    async def _run(self, batch: list[Pending]) -> None:
        if not batch:
            return
        model = self.slot.current
        if model is None:
            for pending in batch:
                self._fail(pending, ModelNotAvailable("model is not available"))
            return
        self.busy_since = time.monotonic()
        try:
            outcomes = execute_inline(model.predictor, batch, model.encode)
            if outcomes is None:
                outcomes = await self._lane.submit(execute, model.predictor, batch, model.encode)
        finally:
            self.busy_since = None
            self.free_since = time.monotonic()
        self.batches += 1
        size = sum(pending.rows for pending in batch)
        self.metrics.batch_rows.observe(size)
        version = model.served.version
        for pending, outcome in zip(batch, outcomes, strict=True):
            self._deliver(pending, outcome, version, size)
        del model
        if size >= TRIM_AFTER_ROWS:
            trim_memory()

    def _deliver(self, pending: Pending, outcome: Outcome, version: str, size: int) -> None:
        job = pending.job
        if outcome is None:  # a part is done; queue the next one behind everyone waiting
            if job.cancelled:
                return
            if job.request.deadline <= time.monotonic():
                self._fail(pending, DeadlineExceeded("the request expired between its parts"))
                return
            data = job.parts.pop(0)
            self._enqueue(job, data, not job.parts, idle=False)
            return
        self.jobs.pop((id(job.conn), job.request.id), None)
        if job.cancelled:
            return
        if isinstance(outcome, bytes):
            self.reply(job.conn, PredictReply(job.request.id, outcome, version, size))
        else:
            self.reply(job.conn, _error(job.request.id, outcome, version))

    def _pop(self, indices: tuple[int, ...]) -> list[Pending]:
        chosen = set(indices)
        batch: list[Pending] = []
        rest: deque[Pending] = deque()
        now = time.monotonic()
        for index, pending in enumerate(self.queue):
            if index not in chosen:
                rest.append(pending)
            elif pending.job.request.deadline <= now:
                self._fail(
                    pending, DeadlineExceeded("the request expired before the model reached it")
                )
            else:
                batch.append(pending)
        self.queue = rest
        self.metrics.queue_depth.set(len(rest))
        return batch

    def _remove(self, predicate: Callable[[Pending], bool]) -> None:
        self.queue = deque(pending for pending in self.queue if not predicate(pending))
        self.metrics.queue_depth.set(len(self.queue))

    def _fail(self, pending: Pending, error: WarmserveError) -> None:
        job = pending.job
        self.jobs.pop((id(job.conn), job.request.id), None)
        job.parts.clear()
        if not job.cancelled:
            self.reply(job.conn, _error(job.request.id, error))


def _error(request_id: int, error: WarmserveError, version: str | None = None) -> WorkerError:
    return WorkerError(request_id, error.error_code, error.message, version, error.wire_detail())


def _default_loader(settings: Settings) -> Loader:
    def load(version: ModelVersion) -> LoadedModel:
        return load_model(
            version, compiled_models=settings.compiled_models, max_rows=settings.max_rows
        )

    return load

"""The model process: a unix-socket server, the batcher and the watcher.

The event loop only moves bytes and makes batching decisions; predict runs on
one dedicated thread, so pings are answered while a batch is predicting and
the supervisor can tell a hung predict (``busy_for`` keeps growing) from a
busy one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from warmserve import protocol
from warmserve.errors import DeadlineExceeded, ModelNotAvailable, ShuttingDown, WarmserveError
from warmserve.metrics import RunnerMetrics
from warmserve.protocol import (
    Control,
    ControlKind,
    ModelState,
    PredictReply,
    PredictRequest,
    WorkerError,
)
from warmserve.registry import ModelVersion
from warmserve.runtime.batching import BatchPolicy, plan_batch
from warmserve.runtime.model import ModelSlot
from warmserve.runtime.predict import Outcome, batch_key, predict_batch
from warmserve.runtime.watcher import Watcher
from warmserve.settings import Settings

log = logging.getLogger("warmserve.runner")


@dataclass(slots=True)
class Pending:
    request: PredictRequest
    writer: asyncio.StreamWriter
    key: object
    rows: int
    arrived: float
    arrived_idle: bool


class Runner:
    def __init__(
        self, settings: Settings, socket_path: str, resume: ModelVersion | None = None
    ) -> None:
        self.settings = settings
        self.socket_path = socket_path
        self.policy = BatchPolicy(settings.max_batch_size, settings.max_batch_delay)
        self.slot = ModelSlot()
        self.metrics = RunnerMetrics()
        self.watcher = Watcher(
            settings, self.slot, self._broadcast_state, self.metrics, resume=resume
        )
        self.queue: deque[Pending] = deque()
        self.writers: set[asyncio.StreamWriter] = set()
        self.busy_since: float | None = None
        self.free_since = time.monotonic()
        self.batches = 0
        self._predict_executor = ThreadPoolExecutor(1, thread_name_prefix="predict")
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._idle = asyncio.Event()  # nothing queued and no predict running

    # --- lifecycle --------------------------------------------------------------
    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stop.set)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)
        server = await asyncio.start_unix_server(self._handle, path=self.socket_path)
        log.info("runner %d listening on %s", os.getpid(), self.socket_path)
        watcher = asyncio.create_task(self.watcher.run(), name="watcher")
        batcher = asyncio.create_task(self._batch_loop(), name="batcher")
        await self._stop.wait()
        log.info("runner stopping: %d queued", len(self.queue))
        server.close()
        watcher.cancel()
        await self._drain(self.settings.shutdown_grace)
        batcher.cancel()
        for pending in self.queue:
            self._send(
                pending.writer,
                WorkerError(
                    pending.request.id, *_flat(ShuttingDown("the model process is shutting down"))
                ),
            )
        for writer in list(self.writers):
            writer.close()
        self.watcher.close()
        self._predict_executor.shutdown(wait=False, cancel_futures=True)

    async def _drain(self, grace: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace)

    # --- connections ------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        self._send(writer, self._state())
        try:
            while True:
                message = await protocol.read_message(reader)
                if isinstance(message, PredictRequest):
                    self._enqueue(message, writer)
                elif isinstance(message, Control):
                    self._control(message, writer)
        except (asyncio.IncompleteReadError, ConnectionError, protocol.ProtocolError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()

    def _control(self, message: Control, writer: asyncio.StreamWriter) -> None:
        kind = message.kind
        if kind is ControlKind.PING:
            busy = time.monotonic() - self.busy_since if self.busy_since is not None else 0.0
            current = self.slot.current
            body = {
                "busy_for": busy,
                "queued": len(self.queue),
                "batches": self.batches,
                "model": current.version.to_dict() if current else None,
            }
            self._send(writer, Control(ControlKind.PONG, message.id, body))
        elif kind is ControlKind.RELOAD:
            future = self.watcher.request_check()
            if message.body.get("wait"):
                request_id = message.id
                future.add_done_callback(
                    lambda done: self._send(
                        writer, Control(ControlKind.RELOADED, request_id, done.result())
                    )
                )
            else:
                self._send(writer, Control(ControlKind.RELOADED, message.id, self._served()))
        elif kind is ControlKind.SHUTDOWN:
            self._stop.set()

    def _served(self) -> dict[str, Any]:
        current = self.slot.current
        return {"version": current.version.version if current else None, "error": None}

    def _state(self) -> ModelState:
        current = self.slot.current
        return ModelState(current.describe() if current else None, self.watcher.status())

    def _broadcast_state(self) -> None:
        state = self._state()
        for writer in list(self.writers):
            self._send(writer, state)

    @staticmethod
    def _send(writer: asyncio.StreamWriter, message: protocol.Message) -> None:
        if not writer.is_closing():
            writer.write(protocol.encode(message))

    # --- batching ---------------------------------------------------------------
    def _enqueue(self, request: PredictRequest, writer: asyncio.StreamWriter) -> None:
        if self.slot.current is None:
            self._send(
                writer, WorkerError(request.id, *_flat(ModelNotAvailable("model is not available")))
            )
            return
        key, rows = batch_key(request)
        idle = self.busy_since is None and not self.queue
        self.queue.append(Pending(request, writer, key, rows, time.monotonic(), idle))
        self.metrics.queue_depth.inc()
        self._idle.clear()
        self._wake.set()

    async def _batch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            plan = plan_batch(self.queue, time.monotonic(), self.free_since, self.policy)
            if not plan.take:
                if not self.queue:
                    self._idle.set()
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), plan.wait)
                continue
            batch = self._pop(plan.take)
            model = self.slot.current
            if not batch:
                continue
            if model is None:
                for pending in batch:
                    self._send(
                        pending.writer,
                        WorkerError(
                            pending.request.id, *_flat(ModelNotAvailable("model is not available"))
                        ),
                    )
                continue
            self.busy_since = time.monotonic()
            try:
                outcomes = await loop.run_in_executor(
                    self._predict_executor, predict_batch, model, [p.request for p in batch]
                )
            finally:
                self.busy_since = None
                self.free_since = time.monotonic()
            self.batches += 1
            size = sum(p.rows for p in batch)
            self.metrics.batch_rows.observe(size)
            for pending, outcome in zip(batch, outcomes, strict=True):
                self._send(pending.writer, _reply(pending.request.id, outcome, model, size))
            del model

    def _pop(self, indices: tuple[int, ...]) -> list[Pending]:
        chosen = set(indices)
        batch: list[Pending] = []
        rest: deque[Pending] = deque()
        now = time.monotonic()
        for index, pending in enumerate(self.queue):
            if index not in chosen:
                rest.append(pending)
            elif pending.request.deadline <= now:
                self._send(
                    pending.writer,
                    WorkerError(
                        pending.request.id,
                        *_flat(DeadlineExceeded("the request expired before the model reached it")),
                    ),
                )
            else:
                batch.append(pending)
        self.queue = rest
        self.metrics.queue_depth.set(len(rest))
        return batch


def _flat(error: WarmserveError) -> tuple[str, str]:
    return error.error_code, error.message


def _reply(
    request_id: int, outcome: Outcome, model: Any, batch_size: int
) -> PredictReply | WorkerError:
    version = model.version.version
    if isinstance(outcome, bytes):
        return PredictReply(request_id, outcome, version, batch_size)
    return WorkerError(request_id, outcome.error_code, outcome.message, version)


def runner_main(settings: Settings, socket_path: str, resume: dict[str, Any] | None) -> None:
    """Entry point of the model process (spawned by the supervisor)."""
    from warmserve.logs import setup_logging
    from warmserve.process import die_with_parent

    die_with_parent()
    setup_logging(settings.log_level, "runner")
    # The supervisor coordinates shutdown; Ctrl-C reaches the whole process group.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    bound_registry_calls()
    version = ModelVersion(**resume) if resume else None
    runner = Runner(settings, socket_path, resume=version)
    _run(runner.serve())


# MLflow's HTTP client retries 7 times with exponential back-off and a 120 s timeout
# by default: one poll of a dead registry would stall the watcher for minutes.
REGISTRY_CALL_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
}


def bound_registry_calls() -> None:
    """Short registry timeouts in the model process, unless the user chose their own."""
    for name, value in REGISTRY_CALL_DEFAULTS.items():
        os.environ.setdefault(name, value)


def _run(coro: Any) -> None:
    try:
        import uvloop

        uvloop.run(coro)
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        asyncio.run(coro)

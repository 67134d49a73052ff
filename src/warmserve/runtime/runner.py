"""The model process: a unix-socket server in front of a map of model hosts.

Every message a worker sends is handled on its own: whatever goes wrong while
handling one (a request nobody can batch, a bug) fails that request with an
error reply and a log line, and the connection — with every other request in
flight on it — stays open. Only a frame that is not ours closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from typing import Any, cast

from warmserve import protocol
from warmserve.errors import NotFound, WarmserveError
from warmserve.events import EventLog
from warmserve.metrics import RunnerMetrics
from warmserve.protocol import (
    DEFAULT_MODEL,
    Cancel,
    Message,
    Ping,
    Pong,
    PredictRequest,
    Reload,
    Reloaded,
    ServedModel,
    Shutdown,
    WorkerError,
)
from warmserve.runtime.history import HistoryRecorder
from warmserve.runtime.host import ModelHost
from warmserve.runtime.model import Loader
from warmserve.runtime.watcher import CheckResult, version_of
from warmserve.settings import Settings

log = logging.getLogger("warmserve.runner")


class Runner:
    def __init__(
        self,
        settings: Settings,
        socket_path: str,
        resume: dict[str, ServedModel] | None = None,
        loader: Loader | None = None,
    ) -> None:
        self.settings = settings
        self.socket_path = socket_path
        self.metrics = RunnerMetrics()
        self.writers: set[asyncio.Transport] = set()
        self._stop = asyncio.Event()
        resume = resume or {}
        # The server's history (status page): derived from every published state.
        self.history = HistoryRecorder(
            EventLog(os.path.dirname(socket_path)),
            {key: served.version for key, served in resume.items()},
        )
        self.hosts: dict[str, ModelHost] = {
            key: ModelHost(
                key,
                settings,
                self.metrics,
                self._send,
                self._broadcast_state,
                resume=version_of(resume[key]) if key in resume else None,
                loader=loader,
            )
            for key in (DEFAULT_MODEL,)
        }

    # --- lifecycle --------------------------------------------------------------
    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stop.set)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)
        server = await loop.create_unix_server(lambda: _Connection(self), path=self.socket_path)
        log.info("runner %d listening on %s", os.getpid(), self.socket_path)
        for host in self.hosts.values():
            host.start()
        await self._stop.wait()
        log.info("runner stopping: %d queued", sum(len(h.queue) for h in self.hosts.values()))
        server.close()
        await asyncio.gather(*(h.stop(self.settings.shutdown_grace) for h in self.hosts.values()))
        for writer in list(self.writers):
            writer.close()

    def stop(self) -> None:
        self._stop.set()

    # --- connections ------------------------------------------------------------
    def _opened(self, transport: asyncio.Transport) -> None:
        self.writers.add(transport)
        for host in self.hosts.values():
            self._send(transport, host.state())

    def _received(self, messages: list[Message], transport: asyncio.Transport) -> None:
        for message in messages:
            try:
                self._dispatch(message, transport)
            except Exception as exc:
                self._dispatch_failed(message, transport, exc)

    def _closed(self, transport: asyncio.Transport) -> None:
        self.writers.discard(transport)
        for host in self.hosts.values():
            host.drop_connection(transport)

    def _dispatch(self, message: Message, writer: asyncio.Transport) -> None:
        if isinstance(message, PredictRequest):
            host = self.hosts.get(message.model)
            if host is None:
                raise NotFound(f"no model {message.model!r} in this server")
            host.submit(message, writer)
        elif isinstance(message, Cancel):
            for host in self.hosts.values():
                if host.cancel(writer, message.id):
                    break
        elif isinstance(message, Ping):
            hosts = {key: host.status() for key, host in self.hosts.items()}
            resume = {
                key: host.slot.current.served
                for key, host in self.hosts.items()
                if host.slot.current is not None
            }
            self._send(writer, Pong(message.id, hosts, resume))
        elif isinstance(message, Reload):
            self._reload(message, writer)
        elif isinstance(message, Shutdown):
            self._stop.set()

    def _dispatch_failed(self, message: Message, writer: asyncio.Transport, exc: Exception) -> None:
        if isinstance(exc, WarmserveError):
            error = exc
        else:
            log.exception("handling a %s failed", type(message).__name__)
            error = WarmserveError(f"internal error in the model process: {type(exc).__name__}")
        request_id = getattr(message, "id", None)
        if isinstance(message, PredictRequest | Reload) and request_id is not None:
            self._send(writer, WorkerError(request_id, error.error_code, error.message))

    def _reload(self, message: Reload, writer: asyncio.Transport) -> None:
        host = self.hosts.get(message.model)
        if host is None:
            raise NotFound(f"no model {message.model!r} in this server")
        future = host.watcher.request_check()
        if not message.wait:
            self._send(writer, _reloaded(message.id, host.watcher.served()))
            return

        def answer(done: asyncio.Future[CheckResult]) -> None:
            if not done.cancelled():
                self._send(writer, _reloaded(message.id, done.result()))

        future.add_done_callback(answer)

    def _broadcast_state(self, host: ModelHost) -> None:
        state = host.state()
        self.history.observe(state)
        for writer in list(self.writers):
            self._send(writer, state)

    @staticmethod
    def _send(writer: Any, message: Message) -> None:
        if writer.is_closing():
            return
        try:
            frame = protocol.encode(message)
        except (ValueError, TypeError) as exc:  # a payload msgpack cannot frame
            log.error("cannot send a %s: %s", type(message).__name__, exc)
            return
        writer.write(frame)


class _Connection(asyncio.Protocol):
    """One worker's connection: frames parsed as bytes arrive, each message handled at once.

    A protocol, not a StreamReader: no coroutine and no ``readexactly`` per frame on
    every request's path (bench/ipc_transports.py measures both).
    """

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.frames = protocol.FrameBuffer()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio.Transport, but behave as one
        self.transport = cast(asyncio.Transport, transport)
        self.runner._opened(self.transport)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        try:
            messages = self.frames.feed(data)
        except protocol.ProtocolError as exc:
            log.error("closing a connection that sent a frame that is not ours: %s", exc)
            self.transport.close()
            return
        self.runner._received(messages, self.transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.runner._closed(self.transport)


def _reloaded(request_id: int, result: CheckResult) -> Reloaded:
    return Reloaded(request_id, result.version, result.error)


def runner_main(
    settings: Settings, socket_path: str, resume: dict[str, dict[str, Any]] | None
) -> None:
    """Entry point of the model process (spawned by the supervisor)."""
    from warmserve.logs import setup_logging
    from warmserve.process import die_with_parent

    die_with_parent()
    setup_logging(settings.log_level, "runner")
    # The supervisor coordinates shutdown; Ctrl-C reaches the whole process group.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    bound_registry_calls()
    served = {key: ServedModel.from_wire(value) for key, value in (resume or {}).items()}
    _run(Runner(settings, socket_path, resume=served).serve())


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

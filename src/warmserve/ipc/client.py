"""The HTTP worker's side of the IPC: one connection to the runner, a future per request.

When the connection drops (runner killed, crashed, replaced) every in-flight
future fails at once with ``RunnerUnavailable`` instead of waiting for its
deadline, and the client reconnects with back-off to whatever runner the
supervisor starts next. A request whose caller stops waiting (its HTTP client
went away) is cancelled in the runner too, so the model never works for nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from typing import Any

from warmserve import errors, protocol
from warmserve.protocol import (
    DEFAULT_MODEL,
    Cancel,
    InputForm,
    ModelState,
    OutputForm,
    Ping,
    Pong,
    PredictReply,
    PredictRequest,
    Reload,
    Reloaded,
    ServedModel,
    WorkerError,
)

log = logging.getLogger("warmserve.ipc")


class _RunnerConnection(asyncio.Protocol):
    """The connection to the runner: frames parsed as bytes arrive (no coroutine per frame)."""

    def __init__(self, client: RunnerClient, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.frames = protocol.FrameBuffer()
        self.lost: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            messages = self.frames.feed(data)
        except protocol.ProtocolError as exc:
            log.error("the model process sent a frame that is not ours: %s", exc)
            if self.transport is not None:
                self.transport.close()
            return
        for message in messages:
            self.client._received(message)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


class _Expired(Exception):
    """A request's deadline passed before its answer came."""


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(_Expired())


RECONNECT_MIN = 0.02
RECONNECT_MAX = 0.5


class RunnerClient:
    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self.states: dict[str, ModelState] = {}  # by model key, as the runner last said
        self._writer: asyncio.Transport | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._reconnect_now = asyncio.Event()
        self._ready = asyncio.Event()  # connected and the default model is served

    # --- lifecycle --------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self._connect_loop(), name="runner-client")

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._fail_all(errors.ShuttingDown("the server is shutting down"))

    @property
    def connected(self) -> bool:
        return self._writer is not None

    def state(self, model: str = DEFAULT_MODEL) -> ModelState | None:
        return self.states.get(model) if self.connected else None

    def served(self, model: str = DEFAULT_MODEL) -> ServedModel | None:
        """The version served now, or None (not connected, nothing loaded, or unhealthy)."""
        state = self.state(model)
        if state is None or not state.status.healthy:
            return None
        return state.served

    async def wait_ready(self, timeout: float, model: str = DEFAULT_MODEL) -> bool:
        """Wait up to ``timeout`` for a served model, reconnecting at once if between
        attempts: after a runner restart no request should fail just because this
        worker's reconnect back-off had not come round yet."""
        if self.served(model) is not None:
            return True
        self._reconnect_now.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)
        return self.served(model) is not None

    # --- requests ---------------------------------------------------------------
    async def predict(
        self,
        form: InputForm,
        data: Any,
        params: Any,
        timeout: float,
        *,
        model: str = DEFAULT_MODEL,
        output: OutputForm = OutputForm.MLFLOW_JSON,
    ) -> PredictReply:
        request_id = next(self._ids)
        deadline = time.monotonic() + timeout
        message = PredictRequest(request_id, model, deadline, form, data, params, output)
        try:
            frame = protocol.encode(message)
        except (ValueError, TypeError) as exc:
            raise errors.BadRequest(f"the request cannot be passed to the model: {exc}") from None
        try:
            reply = await self._call(request_id, frame, timeout)
        except asyncio.CancelledError:
            self._cancel(request_id)
            raise
        if isinstance(reply, WorkerError):
            raise errors.from_code(reply.code, reply.message, reply.version, reply.detail)
        assert isinstance(reply, PredictReply)
        return reply

    async def reload(self, wait: bool, timeout: float, model: str = DEFAULT_MODEL) -> Reloaded:
        request_id = next(self._ids)
        frame = protocol.encode(Reload(request_id, model, wait))
        reply = await self._call(request_id, frame, timeout)
        if isinstance(reply, WorkerError):
            raise errors.from_code(reply.code, reply.message)
        assert isinstance(reply, Reloaded)
        return reply

    async def ping(self, timeout: float) -> Pong | None:
        """The runner's own view (queue depth, busy time, batches); None if unreachable."""
        request_id = next(self._ids)
        try:
            reply = await self._call(request_id, protocol.encode(Ping(request_id)), timeout)
        except errors.WarmserveError:
            return None
        return reply if isinstance(reply, Pong) else None

    async def _call(self, request_id: int, frame: bytes, timeout: float) -> Any:
        writer = self._writer
        if writer is None:
            raise errors.RunnerUnavailable(
                "the model process is not reachable (starting or restarting)", retry_after=1
            )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending[request_id] = future
        # A timer on the future itself, not asyncio.wait_for (a task and a future per call).
        timer = loop.call_later(timeout, _expire, future)
        try:
            writer.write(frame)
            return await future
        except _Expired:
            self._cancel(request_id)
            raise errors.DeadlineExceeded(
                f"the model did not answer within {timeout:g}s (request_timeout)"
            ) from None
        finally:
            timer.cancel()
            self._pending.pop(request_id, None)

    def _cancel(self, request_id: int) -> None:
        writer = self._writer
        if writer is not None and not writer.is_closing():
            writer.write(protocol.encode(Cancel(request_id)))

    # --- connection -------------------------------------------------------------
    async def _connect_loop(self) -> None:
        loop = asyncio.get_running_loop()
        delay = RECONNECT_MIN
        while not self._closed:
            try:
                transport, connection = await loop.create_unix_connection(
                    lambda: _RunnerConnection(self, loop), self.socket_path
                )
            except OSError:
                self._reconnect_now.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._reconnect_now.wait(), delay)
                delay = min(RECONNECT_MAX, delay * 2)
                continue
            delay = RECONNECT_MIN
            self._writer = transport
            log.debug("connected to the model process")
            try:
                await connection.lost
            finally:
                self._writer = None
                # The next runner may serve nothing yet: never report the last one's model.
                self.states = {}
                self._ready.clear()
                transport.close()
                self._fail_all(
                    errors.ShuttingDown("the server is shutting down")
                    if self._closed
                    else errors.RunnerUnavailable(
                        "the model process went away while handling this request", retry_after=1
                    )
                )
                if not self._closed:
                    log.warning("lost the model process; reconnecting")

    def _received(self, message: protocol.Message) -> None:
        if isinstance(message, ModelState):
            self.states[message.model] = message
            if self.served() is not None:
                self._ready.set()
            else:
                self._ready.clear()
            return
        future = self._pending.get(getattr(message, "id", -1))
        if future is not None and not future.done():
            future.set_result(message)

    def _fail_all(self, error: errors.WarmserveError) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)

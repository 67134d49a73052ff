"""The HTTP worker's side of the IPC: one connection to the runner, a future per request.

When the connection drops (runner killed, crashed, replaced) every in-flight
future fails at once with ``RunnerUnavailable`` instead of waiting for its
deadline, and the client reconnects with back-off to whatever runner the
supervisor starts next.
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
    Control,
    ControlKind,
    ModelState,
    PredictReply,
    PredictRequest,
    WorkerError,
)

log = logging.getLogger("warmserve.ipc")

RECONNECT_MIN = 0.02
RECONNECT_MAX = 0.5


class RunnerClient:
    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self.state: ModelState | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._reconnect_now = asyncio.Event()
        self._ready = asyncio.Event()  # connected and the runner serves a model

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

    @property
    def model(self) -> dict[str, Any] | None:
        return self.state.model if self.state is not None and self.connected else None

    async def wait_ready(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for a served model, reconnecting at once if between
        attempts: after a runner restart no request should fail just because this
        worker's reconnect back-off had not come round yet."""
        if self.model is not None:
            return True
        self._reconnect_now.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)
        return self.model is not None

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    # --- requests ---------------------------------------------------------------
    async def predict(
        self, fmt: str, data: Any, params: dict[str, Any] | None, timeout: float
    ) -> PredictReply:
        request_id = next(self._ids)
        deadline = time.monotonic() + timeout
        message = PredictRequest(request_id, deadline, fmt, data, params)
        reply = await self._call(request_id, message, timeout)
        if isinstance(reply, WorkerError):
            raise errors.from_code(reply.code, reply.message)
        assert isinstance(reply, PredictReply)
        return reply

    async def reload(self, wait: bool, timeout: float) -> dict[str, Any]:
        request_id = next(self._ids)
        message = Control(ControlKind.RELOAD, request_id, {"wait": wait})
        reply = await self._call(request_id, message, timeout)
        assert isinstance(reply, Control)
        return reply.body

    async def ping(self, timeout: float) -> dict[str, Any] | None:
        """The runner's own view (queue depth, busy time, batches); None if unreachable."""
        request_id = next(self._ids)
        try:
            reply = await self._call(request_id, Control(ControlKind.PING, request_id), timeout)
        except errors.WarmserveError:
            return None
        assert isinstance(reply, Control)
        return reply.body

    async def _call(self, request_id: int, message: protocol.Message, timeout: float) -> Any:
        writer = self._writer
        if writer is None:
            raise errors.RunnerUnavailable(
                "the model process is not reachable (starting or restarting)", retry_after=1
            )
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            writer.write(protocol.encode(message))
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise errors.DeadlineExceeded(
                f"the model did not answer within {timeout:g}s (request_timeout)"
            ) from None
        finally:
            self._pending.pop(request_id, None)

    # --- connection -------------------------------------------------------------
    async def _connect_loop(self) -> None:
        delay = RECONNECT_MIN
        while not self._closed:
            try:
                reader, writer = await asyncio.open_unix_connection(self.socket_path)
            except OSError:
                self._reconnect_now.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._reconnect_now.wait(), delay)
                delay = min(RECONNECT_MAX, delay * 2)
                continue
            delay = RECONNECT_MIN
            self._writer = writer
            log.debug("connected to the model process")
            try:
                await self._read_loop(reader)
            finally:
                self._writer = None
                # The next runner may serve nothing yet: never report the last one's model.
                self.state = None
                self._ready.clear()
                writer.close()
                self._fail_all(
                    errors.RunnerUnavailable(
                        "the model process went away while handling this request", retry_after=1
                    )
                )
                if not self._closed:
                    log.warning("lost the model process; reconnecting")

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                message = await protocol.read_message(reader)
                if isinstance(message, ModelState):
                    self.state = message
                    if message.model is not None:
                        self._ready.set()
                    else:
                        self._ready.clear()
                    continue
                future = self._pending.get(message.id)
                if future is not None and not future.done():
                    future.set_result(message)

    def _fail_all(self, error: errors.WarmserveError) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)

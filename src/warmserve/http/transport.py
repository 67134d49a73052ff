"""HTTP/1.1 transport limits: no client holds a connection or memory for free.

uvicorn's httptools protocol bounds nothing while a request arrives: a body
shorter than its Content-Length waits forever, a head or body dripped a byte a
second is never cut, a connection that never sends a request is never closed,
and a header line of any size is buffered. :class:`LimitedHttpToolsProtocol`
adds, per connection, one deadline for the phase it is in:

- idle (before the first request, or after a response): ``keep_alive_timeout``,
  then closed silently; bytes that start no request do not extend it;
- head (first byte of a request to the end of its headers): ``header_timeout``,
  then ``408``; more than ``max_header_bytes`` of head answers ``431`` at once;
- body (end of the headers to the end of the body): ``body_timeout``, then
  ``408`` if no answer was started yet; the application sees a disconnect.

Every refusal closes the connection. A deadline that falls while the server is
not reading (a pipelined request waiting for the one before it to be answered,
or flow control) starts over: only time the client had to send counts.
Refusals are JSON ``{"error_code", "message"}`` like every other error; so are
the 400s for unparsable requests.
"""

from __future__ import annotations

import enum
from asyncio import TimerHandle
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from warmserve.errors import BadRequest, HeadersTooLarge, RequestTimeout, WarmserveError
from warmserve.http.answers import error_answer
from warmserve.settings import Settings


@dataclass(frozen=True, slots=True)
class TransportLimits:
    max_header_bytes: int
    header_timeout: float
    body_timeout: float
    keep_alive_timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> TransportLimits:
        return cls(
            settings.max_header_bytes,
            settings.header_timeout,
            settings.body_timeout,
            settings.keep_alive_timeout,
        )


class Phase(enum.Enum):
    IDLE = "idle"  # no request begun since the last one was received
    HEAD = "head"
    BODY = "body"
    RECEIVED = "received"  # the whole request is in; the application has it


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing a request that was refused."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits above (``limits`` set by a subclass)."""

    limits: ClassVar[TransportLimits]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout_keep_alive = self.limits.keep_alive_timeout  # type: ignore[assignment]
        self.phase = Phase.IDLE
        self._timer: TimerHandle | None = None
        self._timer_phase: Phase | None = None  # the phase whose deadline ``_timer`` holds
        self._head_bytes = 0
        self._messages = 0
        self._refusal: WarmserveError | None = None

    # --- connection -------------------------------------------------------------------
    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm_keep_alive()  # uvicorn arms it only after a first response

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self._unset_keepalive_if_required()  # uvicorn leaves it armed after a reset
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # Unlike uvicorn, bytes alone do not cancel the idle deadline: a request must begin.
        was_in_head, message = self.phase is Phase.HEAD, self._messages
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self._refusal is not None:
                self._refuse(self._refusal)
            else:
                self.logger.warning("Invalid HTTP request received: %s", exc)
                self.send_400_response(str(exc))
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self._cancel_timer()  # the WebSocket protocol takes the transport over
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self.phase is Phase.HEAD:
            # Bytes of a head that began inside this chunk are not counted: at most one
            # read more than the limit is buffered before the exact check at its end.
            if was_in_head and message == self._messages:
                self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse(self._too_large())
                return
        self._arm_for_phase()

    def send_400_response(self, msg: str) -> None:
        self._refuse(BadRequest(f"invalid HTTP request: {msg or 'unreadable'}"))

    def timeout_keep_alive_handler(self) -> None:
        if self.phase in (Phase.IDLE, Phase.RECEIVED):  # a request begun has its own deadline
            super().timeout_keep_alive_handler()

    # --- parser callbacks -------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._messages += 1
        self._head_bytes = 0
        self.phase = Phase.HEAD
        self._unset_keepalive_if_required()
        self._cancel_timer()  # armed after the read if the head is still incomplete

    def on_headers_complete(self) -> None:
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.limits.max_header_bytes:
            self._refusal = self._too_large()
            raise _Refused
        self.phase = Phase.BODY
        self._cancel_timer()  # armed after the read if the body is still incomplete
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self.phase = Phase.RECEIVED
        self._cancel_timer()
        super().on_message_complete()

    # --- deadlines --------------------------------------------------------------------
    def _arm_for_phase(self) -> None:
        """After a read, give an incomplete head or body its deadline (once per phase).

        Most requests arrive whole in one read and need no timer at all; a head or
        body still incomplete gets its deadline from the read in which it began (a
        later read never extends it)."""
        if self.phase is self._timer_phase:
            return
        if self.phase is Phase.HEAD:
            self._arm(self.limits.header_timeout, self._head_expired)
        elif self.phase is Phase.BODY:
            self._arm(self.limits.body_timeout, self._body_expired)

    def _head_expired(self) -> None:
        previous = self.cycle
        if self.flow.read_paused or (previous is not None and not previous.response_complete):
            self._arm(self.limits.header_timeout, self._head_expired)  # not our turn yet
            return
        self._refuse(RequestTimeout(self._late("head", self.limits.header_timeout)))

    def _body_expired(self) -> None:
        queued = any(cycle is self.cycle for cycle, _ in self.pipeline)
        if self.flow.read_paused or queued:
            self._arm(self.limits.body_timeout, self._body_expired)
            return
        self._refuse(RequestTimeout(self._late("body", self.limits.body_timeout)))

    def _refuse(self, error: WarmserveError) -> None:
        """Answer ``error`` unless an answer is under way on this connection; close it."""
        self._refusal = None
        cycle = self.cycle
        if self.phase is Phase.BODY and cycle is not None:  # the request being received
            answerable = not cycle.response_started
            if not cycle.response_complete:
                cycle.disconnected = True  # the application now sees the client gone
                cycle.message_event.set()
        else:  # in a head or between requests: ``cycle`` is the previous request's
            answerable = cycle is None or cycle.response_complete
        if answerable:
            self._answer_and_close(error)
        else:
            self._close()

    def _answer_and_close(self, error: WarmserveError) -> None:
        answer = error_answer(error)
        content = [STATUS_LINE[answer.status]]
        for name, value in [*self.server_state.default_headers, *answer.raw_headers()]:
            content += [name, b": ", value, b"\r\n"]
        content += [b"connection: close\r\n\r\n", answer.body]
        if not self.transport.is_closing():
            self.transport.write(b"".join(content))
        self._close()

    def _close(self) -> None:
        self._cancel_timer()
        self.phase = Phase.RECEIVED
        if not self.transport.is_closing():
            self.transport.close()

    def _arm(self, delay: float, callback: Any) -> None:
        self._cancel_timer()
        self._timer = self.loop.call_later(delay, callback)
        self._timer_phase = self.phase

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_phase = None

    def _arm_keep_alive(self) -> None:
        self._unset_keepalive_if_required()
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def _too_large(self) -> HeadersTooLarge:
        limit = self.limits.max_header_bytes
        return HeadersTooLarge(f"the request line and headers exceed {limit} bytes")

    @staticmethod
    def _late(part: str, seconds: float) -> str:
        return f"the request {part} did not arrive within {seconds:g}s"


def protocol_with_limits(limits: TransportLimits) -> type[LimitedHttpToolsProtocol]:
    """The protocol class uvicorn instantiates per connection, bound to ``limits``."""

    class HttpToolsWithLimits(LimitedHttpToolsProtocol):
        pass

    HttpToolsWithLimits.limits = limits
    return HttpToolsWithLimits


def uvicorn_config(app: Any, settings: Settings) -> uvicorn.Config:
    """How a worker runs uvicorn: httptools with the transport limits, uvloop, no access log."""
    return uvicorn.Config(
        app,
        loop="uvloop",
        http=protocol_with_limits(TransportLimits.from_settings(settings)),
        lifespan="on",
        access_log=False,
        log_config=None,
        # uvicorn annotates int, but hands the value to asyncio.wait_for, which takes
        # any float: a grace under a second stays that grace (int() made it "no limit").
        timeout_graceful_shutdown=cast(int, settings.shutdown_grace),
        backlog=2048,
    )

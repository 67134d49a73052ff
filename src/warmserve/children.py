"""Supervised children behind one interface: start, a non-blocking check, stop.

Liveness is a ping answered, not ``is_alive()``: HTTP workers answer over a
pipe from their event loop (:mod:`warmserve.heartbeat`), the runner over its
unix socket. Both checks only look at what has arrived, so one slow child can
never stall the supervisor's loop, its checks of the others, or its signal
handling.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Protocol

from warmserve import protocol
from warmserve.heartbeat import Heartbeat
from warmserve.protocol import FrameBuffer, Ping, Pong, ServedModel, Shutdown

log = logging.getLogger("warmserve.supervisor")

START_TIMEOUT = 120.0
STABLE_AFTER = 30.0
MAX_RESTART_DELAY = 30.0


@dataclass
class Restarts:
    """Back-off between restarts of one child: quick at first, slower when it keeps dying."""

    started: float = 0.0
    failures: int = 0
    not_before: float = 0.0

    def delay(self, now: float) -> float:
        if now - self.started > STABLE_AFTER:
            self.failures = 0
        self.failures += 1
        return float(min(MAX_RESTART_DELAY, 0.25 * 2 ** (self.failures - 1)))


class ChildHandle(Protocol):
    name: str
    role: str  # "runner" | "http": the metrics label of restarts
    process: BaseProcess | None
    restarts: Restarts

    def start(self, now: float) -> None: ...

    def check(self, now: float) -> str | None:
        """Why the running child must be replaced, if it must (never blocks)."""
        ...

    def request_stop(self) -> None:
        """Ask the child to finish what it is doing and exit."""
        ...

    def closed(self) -> None:
        """The process is gone: release what was tied to it."""
        ...


@dataclass
class WorkerHandle:
    """An HTTP worker, forked; liveness by a pipe heartbeat."""

    name: str
    launch: Callable[[], tuple[BaseProcess, Heartbeat]]
    interval: float
    timeout: float
    role: str = "http"
    process: BaseProcess | None = None
    heartbeat: Heartbeat | None = None
    restarts: Restarts = field(default_factory=Restarts)

    def start(self, now: float) -> None:
        self.process, self.heartbeat = self.launch()
        self.restarts.started = now

    def check(self, now: float) -> str | None:
        assert self.heartbeat is not None
        return self.heartbeat.check(now, self.interval, self.timeout, START_TIMEOUT)

    def request_stop(self) -> None:
        process = self.process
        if process is not None and process.exitcode is None and process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)

    def closed(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.close()
            self.heartbeat = None


class RunnerProbe:
    """The supervisor's non-blocking control connection to the runner.

    Each ``poll`` sends a ping when one is due and reads whatever has arrived;
    a pong that does not come within ``timeout`` is the runner's failure.
    """

    def __init__(self, path: str, interval: float, timeout: float) -> None:
        self.path = path
        self.interval = interval
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.frames = FrameBuffer()
        self.ids = itertools.count(1)
        self.sent_at: float | None = None
        self.next_ping = 0.0
        self.last_pong: Pong | None = None

    def connect(self) -> bool:
        self.close()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            return False
        sock.setblocking(False)
        self.sock = sock
        self.frames = FrameBuffer()
        self.sent_at = None
        self.next_ping = 0.0
        return True

    def poll(self, now: float) -> str | None:
        """Advance the ping cycle; return why the runner failed, if it did."""
        assert self.sock is not None
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return "closed its control connection"
                for message in self.frames.feed(data):
                    if isinstance(message, Pong):
                        self.last_pong = message
                        self.sent_at = None
        except BlockingIOError:
            pass
        except (OSError, protocol.ProtocolError) as exc:
            return f"control connection failed ({type(exc).__name__})"
        if self.sent_at is not None:
            if now - self.sent_at > self.timeout:
                return f"did not answer a ping within {self.timeout:g}s"
            return None
        if now >= self.next_ping:
            if not self._send(protocol.encode(Ping(next(self.ids)))):
                return "control connection failed (send)"
            self.sent_at = now
            self.next_ping = now + self.interval
        return None

    def send_shutdown(self) -> bool:
        return self.sock is not None and self._send(protocol.encode(Shutdown()))

    def _send(self, frame: bytes) -> bool:
        assert self.sock is not None
        try:
            self.sock.sendall(frame)  # tiny frames: the socket buffer always has room
        except BlockingIOError:
            return True  # the buffer is full of unread pings: the timeout will tell
        except OSError:
            return False
        return True

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


@dataclass
class RunnerHandle:
    """The model process, spawned; liveness by pings over its socket, plus the runner's
    own report of how long its current predict call has been running."""

    name: str
    launch: Callable[[dict[str, ServedModel]], BaseProcess]
    probe: RunnerProbe
    hang_timeout: float
    role: str = "runner"
    process: BaseProcess | None = None
    restarts: Restarts = field(default_factory=Restarts)
    resume: dict[str, ServedModel] = field(default_factory=dict)  # what to load on restart

    def start(self, now: float) -> None:
        self.probe.close()
        self.process = self.launch(self.resume)
        self.restarts.started = now

    def check(self, now: float) -> str | None:
        if self.probe.sock is None and not self.probe.connect():
            if now - self.restarts.started > START_TIMEOUT:
                return "did not open its socket in time"
            return None
        why = self.probe.poll(now)
        if why is not None:
            return why
        pong = self.probe.last_pong
        if pong is None:
            return None
        if pong.resume:
            self.resume = dict(pong.resume)
        for key, host in pong.hosts.items():
            if not host.healthy:
                return f"reports model {key!r} unhealthy (a loop of it died)"
            if host.busy_for > self.hang_timeout:
                return f"predict hung for {host.busy_for:.0f}s"
        return None

    def request_stop(self) -> None:
        process = self.process
        if process is None or process.exitcode is not None:
            return
        if not (
            (self.probe.sock is not None or self.probe.connect()) and self.probe.send_shutdown()
        ):
            process.terminate()

    def closed(self) -> None:
        self.probe.close()
        self.probe.last_pong = None


def join_or_kill(process: BaseProcess | None, timeout: float) -> None:
    if process is None:
        return
    deadline = time.monotonic() + timeout
    process.join(max(0.0, deadline - time.monotonic()))
    if process.exitcode is None:
        log.warning("%s did not stop in time; killing it", process.name)
        process.kill()
        process.join(5)

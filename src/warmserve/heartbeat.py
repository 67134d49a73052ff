"""Liveness of the HTTP workers: the supervisor pings over a pipe and the worker's
event loop answers. A worker whose loop is blocked stays silent and is replaced,
which ``is_alive()`` alone would never notice."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from multiprocessing.connection import Connection

PING, PONG, READY = b"ping", b"pong", b"ready"


def answer_pings(conn: Connection) -> None:
    """Run inside the worker's event loop: pings are answered by the loop itself."""
    loop = asyncio.get_running_loop()

    def answer() -> None:
        try:
            while conn.poll():
                conn.recv_bytes()
                conn.send_bytes(PONG)
        except (EOFError, OSError):  # the supervisor is gone; die_with_parent handles it
            loop.remove_reader(conn.fileno())

    loop.add_reader(conn.fileno(), answer)
    conn.send_bytes(READY)


@dataclass
class Heartbeat:
    """The supervisor's view of one worker's liveness (never blocks)."""

    conn: Connection
    started: float
    ready: bool = False
    sent_at: float | None = None
    next_ping: float = 0.0

    def check(
        self, now: float, interval: float, timeout: float, start_timeout: float
    ) -> str | None:
        """Advance the ping cycle; return why the worker must be replaced, if it must."""
        with contextlib.suppress(EOFError, OSError):
            while self.conn.poll():
                message = self.conn.recv_bytes()
                if message == READY:
                    self.ready = True
                elif message == PONG:
                    self.sent_at = None
        if not self.ready:
            return "did not start in time" if now - self.started > start_timeout else None
        if self.sent_at is not None:
            if now - self.sent_at > timeout:
                return f"did not answer a ping within {timeout:g}s"
            return None
        if now >= self.next_ping:
            with contextlib.suppress(OSError):
                self.conn.send_bytes(PING)
            self.sent_at = now
            self.next_ping = now + interval
        return None

    def close(self) -> None:
        self.conn.close()

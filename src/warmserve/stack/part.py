"""One supervised part of the stack: a child in its own process group, logs prefixed.

The child gets a new session, so a terminal's Ctrl-C reaches only the stack, which
then stops the parts in order; stopping a part signals its whole group (the MLflow
server leaves helper processes behind otherwise), SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

import httpx

MAX_RESTART_DELAY = 30.0


@dataclass
class Part:
    name: str
    command: list[str]
    env: dict[str, str]
    health_url: str
    out: TextIO = field(default_factory=lambda: sys.stdout)
    proc: subprocess.Popen[bytes] | None = None
    buffer: bytes = b""
    restarts: int = 0
    restart_at: float | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.command,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        os.set_blocking(self.stdout_fd(), False)
        self.restart_at = None

    def stdout_fd(self) -> int:
        assert self.proc is not None and self.proc.stdout is not None
        return self.proc.stdout.fileno()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def healthy(self) -> bool:
        try:
            return httpx.get(self.health_url, timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def pump(self) -> None:
        """Copy what the child printed so far, each line prefixed with the part's name."""
        if self.proc is None or self.proc.stdout is None:
            return
        with contextlib.suppress(BlockingIOError, ValueError, OSError):
            while chunk := os.read(self.stdout_fd(), 65536):
                self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            self.out.write(f"[{self.name:<7}] {line.decode(errors='replace')}\n")
        if lines:
            self.out.flush()

    def schedule_restart(self, now: float) -> float:
        """Exponential back-off: 1 s, 2 s, 4 s ... up to MAX_RESTART_DELAY."""
        delay = min(MAX_RESTART_DELAY, 2.0**self.restarts)
        self.restarts += 1
        self.restart_at = now + delay
        return delay

    def stop(self, grace: float) -> int | None:
        """SIGTERM the group, wait up to ``grace`` seconds, then SIGKILL it."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            deadline = time.monotonic() + grace
            while self.proc.poll() is None and time.monotonic() < deadline:
                self.pump()
                time.sleep(0.05)
        self._signal_group(signal.SIGKILL)  # helpers that outlived their parent
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        self.pump()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode

    def _signal_group(self, sig: int) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

"""The main process: starts the runner and the HTTP workers, keeps them alive, drains.

Liveness of the runner is a ping answered within ``ping_timeout`` (and a
predict not running longer than ``predict_hang_timeout``), not ``is_alive()``.
Signal handlers only record the signal; the main loop acts on it.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import time
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

from warmserve import entrypoints, protocol, rundir
from warmserve.heartbeat import Heartbeat
from warmserve.protocol import Control, ControlKind
from warmserve.settings import Settings

log = logging.getLogger("warmserve.supervisor")

RUNNER_START_TIMEOUT = 120.0
STABLE_AFTER = 30.0
MAX_RESTART_DELAY = 30.0
TICK = 0.1
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read once by prometheus_client at import


def bind_socket(host: str, port: int) -> socket.socket:
    """The listening socket all workers share. TCP_NODELAY is set on it so that
    every accepted connection inherits it (no 40 ms Nagle/delayed-ACK stalls)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


@dataclass
class Child:
    """A supervised process and its restart history."""

    name: str
    process: BaseProcess | None = None
    heartbeat: Heartbeat | None = None
    started: float = 0.0
    failures: int = 0
    not_before: float = 0.0

    def restart_delay(self, now: float) -> float:
        if now - self.started > STABLE_AFTER:
            self.failures = 0
        self.failures += 1
        return float(min(MAX_RESTART_DELAY, 0.25 * 2 ** (self.failures - 1)))


@dataclass
class RunnerLink:
    """The supervisor's control connection to the runner (blocking, with timeouts)."""

    path: str
    sock: socket.socket | None = None
    ids: Any = field(default_factory=lambda: itertools.count(1))

    def connect(self) -> bool:
        self.close()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            return False
        self.sock = sock
        return True

    def request(self, message: Control, timeout: float) -> Control:
        """Send ``message`` and wait for the control reply with the same id."""
        assert self.sock is not None
        deadline = time.monotonic() + timeout
        self.sock.settimeout(timeout)
        self.sock.sendall(protocol.encode(message))
        while True:
            self.sock.settimeout(max(0.001, deadline - time.monotonic()))
            reply = protocol.recv_message(self.sock)
            if isinstance(reply, Control) and reply.id == message.id:
                return reply

    def send(self, message: Control) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.sendall(protocol.encode(message))

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class Supervisor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # The runner is spawned: a fresh interpreter for the model's libraries. HTTP
        # workers are forked from this single-threaded process after it preloaded
        # the web stack, so its pages are shared copy-on-write (~38 -> ~10 MiB each).
        self.ctx = multiprocessing.get_context("spawn")
        self.worker_ctx = multiprocessing.get_context("fork")
        self.runtime_dir = rundir.create()
        self.runner_socket = os.path.join(self.runtime_dir, "runner.sock")
        self.link = RunnerLink(self.runner_socket)
        self.runner = Child("runner")
        self.workers = [Child(f"http-{i}") for i in range(settings.workers)]
        self.signal: int | None = None
        self.sock: socket.socket | None = None
        self.served: dict[str, Any] | None = None  # last version the runner reported
        self.next_ping = 0.0
        self.metrics_dir = os.path.join(self.runtime_dir, "metrics")
        self.metrics: Any = None

    # --- entry ------------------------------------------------------------------
    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._record_signal)
        # Every child inherits this and writes its metrics there (set before any
        # prometheus_client import, which reads it once).
        os.makedirs(self.metrics_dir)
        os.environ[MULTIPROC_ENV] = self.metrics_dir
        from warmserve.metrics import SupervisorMetrics

        self.metrics = SupervisorMetrics()
        self.sock = bind_socket(self.settings.host, self.settings.port)
        host, port = self.sock.getsockname()[:2]
        self._warn_if_exposed()
        self._start_runner()
        entrypoints.preload_http_worker()
        gc.freeze()  # keep preloaded objects out of collections: their pages stay shared
        for index in range(len(self.workers)):
            self._start_worker(index)
        log.info(
            "warmserve listening on http://%s:%d (%d HTTP worker%s, model %s)",
            host,
            port,
            len(self.workers),
            "" if len(self.workers) == 1 else "s",
            self.settings.model or "none",
        )
        try:
            while self.signal is None:
                self._tick()
                time.sleep(TICK)
            log.info("received %s; draining", signal.Signals(self.signal).name)
            self._shutdown()
        finally:
            self.link.close()
            shutil.rmtree(self.runtime_dir, ignore_errors=True)
        return 0

    def _record_signal(self, signum: int, frame: Any) -> None:
        self.signal = signum

    def _warn_if_exposed(self) -> None:
        if not self.settings.is_loopback() and self.settings.admin_token is None:
            log.warning(
                "binding %s with no WARMSERVE_ADMIN_TOKEN: anyone who can reach this "
                "address can call /reload",
                self.settings.host,
            )

    # --- children ---------------------------------------------------------------
    def _start_runner(self) -> None:
        self.link.close()
        process = self.ctx.Process(
            target=entrypoints.model_runner,
            args=(self.settings, self.runner_socket, self.served),
            name="warmserve-runner",
        )
        process.start()
        self.runner.process = process
        self.runner.started = time.monotonic()
        self.next_ping = 0.0

    def _start_worker(self, index: int) -> None:
        ours, theirs = self.worker_ctx.Pipe()
        process = self.worker_ctx.Process(
            target=entrypoints.http_worker,
            args=(self.settings, self.sock, self.runner_socket, index, theirs),
            name=f"warmserve-http-{index}",
        )
        process.start()
        theirs.close()
        child = self.workers[index]
        child.process = process
        child.started = time.monotonic()
        child.heartbeat = Heartbeat(ours, child.started)

    def _tick(self) -> None:
        now = time.monotonic()
        self._check_runner(now)
        for index, child in enumerate(self.workers):
            process = child.process
            if process is not None and process.exitcode is None:
                assert child.heartbeat is not None
                why = child.heartbeat.check(
                    now, self.settings.ping_interval, self.settings.ping_timeout,
                    RUNNER_START_TIMEOUT,
                )  # fmt: skip
                if why is None:
                    continue
                log.error("%s %s; killing it", child.name, why)
                process.kill()
                process.join(5)
            if process is not None:
                log.error("%s exited with %s; restarting", child.name, process.exitcode)
                if child.heartbeat is not None:
                    child.heartbeat.close()
                self.metrics.process_died(process.pid)
                self.metrics.restarts.labels("http").inc()
                child.not_before = now + child.restart_delay(now)
                child.process = None
            if now >= child.not_before:
                self._start_worker(index)

    def _check_runner(self, now: float) -> None:
        child = self.runner
        process = child.process
        if process is None:
            if now >= child.not_before:
                self._start_runner()
            return
        if process.exitcode is not None:
            self._replace_runner(now, f"exited with {process.exitcode}")
            return
        if now < self.next_ping:
            return
        self.next_ping = now + self.settings.ping_interval
        if self.link.sock is None and not self.link.connect():
            if now - child.started > RUNNER_START_TIMEOUT:
                self._replace_runner(now, "did not open its socket in time")
            return
        message = Control(ControlKind.PING, next(self.link.ids))
        try:
            pong = self.link.request(message, self.settings.ping_timeout)
        except (OSError, protocol.ProtocolError) as exc:
            self._replace_runner(now, f"did not answer a ping ({type(exc).__name__})")
            return
        self.served = pong.body.get("model") or self.served
        if pong.body.get("busy_for", 0.0) > self.settings.predict_hang_timeout:
            self._replace_runner(now, f"predict hung for {pong.body['busy_for']:.0f}s")

    def _replace_runner(self, now: float, why: str) -> None:
        child = self.runner
        process = child.process
        log.error("model process %s; starting a new one", why)
        self.link.close()
        if process is not None:
            if process.exitcode is None:
                process.kill()
            process.join(5)
            self.metrics.process_died(process.pid)
        self.metrics.restarts.labels("runner").inc()
        child.process = None
        child.not_before = now + child.restart_delay(now)

    # --- shutdown ---------------------------------------------------------------
    def _shutdown(self) -> None:
        grace = self.settings.shutdown_grace
        for child in self.workers:
            if child.process is not None and child.process.exitcode is None:
                os.kill(child.process.pid, signal.SIGTERM)  # type: ignore[arg-type]
        for child in self.workers:
            _join_or_kill(child.process, grace + 5)
        if self.sock is not None:
            self.sock.close()
        runner = self.runner.process
        if runner is not None and runner.exitcode is None:
            if self.link.sock is not None or self.link.connect():
                self.link.send(Control(ControlKind.SHUTDOWN))
            else:
                runner.terminate()
            _join_or_kill(runner, grace + 5)
        log.info("stopped")


def _join_or_kill(process: BaseProcess | None, timeout: float) -> None:
    if process is None:
        return
    process.join(timeout)
    if process.exitcode is None:
        log.warning("%s did not stop in time; killing it", process.name)
        process.kill()
        process.join(5)

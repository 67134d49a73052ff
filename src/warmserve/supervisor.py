"""The main process: starts the runner and the HTTP workers, keeps them alive, drains.

Liveness of the runner is a ping answered within ``ping_timeout`` (and a
predict not running longer than ``predict_hang_timeout``), not ``is_alive()``.
Signal handlers only record the signal; the main loop acts on it.
"""

from __future__ import annotations

import functools
import gc
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import time
from multiprocessing.process import BaseProcess
from typing import Any

from warmserve import entrypoints, rundir
from warmserve.children import ChildHandle, RunnerHandle, RunnerProbe, WorkerHandle, join_or_kill
from warmserve.events import EventLog
from warmserve.heartbeat import Heartbeat
from warmserve.protocol import ServedModel
from warmserve.settings import Settings

log = logging.getLogger("warmserve.supervisor")

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


def status_sampler(runtime_dir: str, interval: float) -> Any:
    """The status page's sampler of the summed metrics (prediction routes from the table)."""
    from warmserve.http.routes import PREDICT_ROUTES
    from warmserve.samples import Sampler

    return Sampler(runtime_dir, interval, [route.path for route in PREDICT_ROUTES])


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
        self.runner = RunnerHandle(
            "runner",
            self._launch_runner,
            RunnerProbe(self.runner_socket, settings.ping_interval, settings.ping_timeout),
            settings.predict_hang_timeout,
        )
        self.workers = [
            WorkerHandle(
                f"http-{index}",
                functools.partial(self._launch_worker, index),
                settings.ping_interval,
                settings.ping_timeout,
            )
            for index in range(settings.workers)
        ]
        self.children: list[ChildHandle] = [self.runner, *self.workers]
        self.signal: int | None = None
        self.sock: socket.socket | None = None
        self.metrics_dir = os.path.join(self.runtime_dir, "metrics")
        self.metrics: Any = None
        self.events = EventLog(self.runtime_dir)  # history for the status page
        self.sampler: Any = None  # live numbers for the status page (needs the metrics dir)

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
        self.sampler = status_sampler(self.runtime_dir, self.settings.status_interval)
        self.sock = bind_socket(self.settings.host, self.settings.port)
        host, port = self.sock.getsockname()[:2]
        self._warn_if_exposed()
        now = time.monotonic()
        self.events.append("started", workers=len(self.workers), source=self.settings.model)
        self.runner.start(now)
        entrypoints.preload_http_worker()
        gc.freeze()  # keep preloaded objects out of collections: their pages stay shared
        for worker in self.workers:
            worker.start(now)
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
                self._tick(time.monotonic())
                time.sleep(TICK)
            log.info("received %s; draining", signal.Signals(self.signal).name)
            self._shutdown()
        finally:
            self.runner.closed()
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
    def _launch_runner(self, resume: dict[str, ServedModel]) -> BaseProcess:
        process = self.ctx.Process(
            target=entrypoints.model_runner,
            args=(
                self.settings,
                self.runner_socket,
                {key: served.to_wire() for key, served in resume.items()},
            ),
            name="warmserve-runner",
        )
        process.start()
        return process

    def _launch_worker(self, index: int) -> tuple[BaseProcess, Heartbeat]:
        ours, theirs = self.worker_ctx.Pipe()
        process = self.worker_ctx.Process(
            target=entrypoints.http_worker,
            args=(self.settings, self.sock, self.runner_socket, index, theirs),
            name=f"warmserve-http-{index}",
        )
        process.start()
        theirs.close()
        return process, Heartbeat(ours, time.monotonic())

    def _tick(self, now: float) -> None:
        self.sampler.maybe_sample(now)
        for child in self.children:
            process = child.process
            if process is None:
                if now >= child.restarts.not_before:
                    child.start(now)
                continue
            if process.exitcode is None:
                why = child.check(now)
                if why is None:
                    continue
                process.kill()
                process.join(5)
            else:
                why = f"exited with {process.exitcode}"
            if child.role == "runner":
                log.error("model process %s; starting a new one", why)
            else:
                log.error("%s %s; starting a new one", child.name, why)
            self.events.append("restart", role=child.role, name=child.name, reason=why)
            self._replaced(child, now)

    def _replaced(self, child: ChildHandle, now: float) -> None:
        process = child.process
        child.closed()
        if process is not None:
            self.metrics.process_died(process.pid)
        self.metrics.restarts.labels(child.role).inc()
        child.restarts.not_before = now + child.restarts.delay(now)
        child.process = None

    # --- shutdown ---------------------------------------------------------------
    def _shutdown(self) -> None:
        grace = self.settings.shutdown_grace
        # Close our copy of the listening socket first: once the workers close theirs,
        # new connections are refused at once instead of waiting in the backlog.
        if self.sock is not None:
            self.sock.close()
        for worker in self.workers:
            worker.request_stop()
        for worker in self.workers:
            join_or_kill(worker.process, grace + 5)
        self.runner.request_stop()
        join_or_kill(self.runner.process, grace + 5)
        log.info("stopped")

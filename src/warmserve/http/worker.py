"""Entry point of one HTTP worker process: uvicorn on the supervisor's socket.

This module must not import pandas, mlflow or any model library: workers stay
small, and the model lives only in the runner.
"""

from __future__ import annotations

import os
import signal
import socket
from multiprocessing.connection import Connection

import uvicorn

from warmserve.cache import make_cache
from warmserve.http.app import create_app
from warmserve.http.transport import uvicorn_config
from warmserve.ipc.client import RunnerClient
from warmserve.logs import setup_logging
from warmserve.metrics import HttpMetrics
from warmserve.process import die_with_parent
from warmserve.settings import Settings


def worker_main(
    settings: Settings,
    sock: socket.socket,
    runner_socket: str,
    index: int,
    liveness: Connection | None = None,
) -> None:
    die_with_parent()
    # Forked from the supervisor: drop its signal handlers (uvicorn installs its own, and
    # raises the signal again after its graceful shutdown). SIGTERM then leaves through
    # Python's exit path, so what the process saves at exit (coverage data) is saved.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    setup_logging(settings.log_level, f"http-{index}")
    client = RunnerClient(runner_socket)
    # One cache handle per worker process: LMDB maps and Redis sockets never cross a fork.
    cache = make_cache(settings, scope=os.path.dirname(runner_socket))
    app = create_app(settings, client, HttpMetrics(), cache, liveness)
    uvicorn.Server(uvicorn_config(app, settings)).run(sockets=[sock])


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)

"""The MLflow server part: its command line, and `warmserve mlflow` to run it alone.

Defaults keep everything under HOME/mlflow: a SQLite database and proxied
artifacts (clients need only HTTP to the server). `warmserve mlflow` is what the
container image runs for this role: it is PID 1, starts the server in its own
process group and stops the whole group on SIGTERM, since MLflow's helper
processes would otherwise outlive it.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path

from warmserve.settings import Settings
from warmserve.stack.part import Part

log = logging.getLogger("warmserve.stack")
STOP_GRACE = 20.0


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def mlflow_dir(settings: Settings) -> Path:
    return settings.home.resolve() / "mlflow"


def mlflow_command(settings: Settings, port: int) -> list[str]:
    """`python -m mlflow server ...` for these settings (creates the default folders)."""
    store = settings.mlflow_backend_store_uri
    artifacts = settings.mlflow_artifacts_destination
    if store is None or artifacts is None:
        mlflow_dir(settings).mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", store or f"sqlite:///{mlflow_dir(settings) / 'mlflow.db'}",
        "--artifacts-destination", artifacts or str(mlflow_dir(settings) / "artifacts"),
        "--host", settings.mlflow_host,
        "--port", str(port),
        "--workers", str(settings.mlflow_workers),
        "--uvicorn-opts", "--no-access-log",  # one line per registry poll is noise
    ]  # fmt: skip
    if settings.mlflow_allowed_hosts:
        command += ["--allowed-hosts", settings.mlflow_allowed_hosts]
    return command


def mlflow_env(base: dict[str, str]) -> dict[str, str]:
    # The job runner's helper processes are not needed to serve a registry.
    return {**base, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "PYTHONUNBUFFERED": "1"}


def mlflow_part(settings: Settings, port: int, base_env: dict[str, str]) -> Part:
    host = "127.0.0.1" if settings.mlflow_host in ("0.0.0.0", "::") else settings.mlflow_host
    return Part(
        "mlflow",
        mlflow_command(settings, port),
        mlflow_env(base_env),
        f"http://{host}:{port}/health",
    )


def run_mlflow(settings: Settings) -> int:
    """Run the MLflow server until SIGTERM/SIGINT, then stop its whole process group."""
    port = settings.mlflow_port or free_port(settings.mlflow_host)
    part = mlflow_part(settings, port, dict(os.environ))
    received: list[int] = []

    def record(signum: int, frame: object) -> None:
        received.append(signum)

    signal.signal(signal.SIGTERM, record)
    signal.signal(signal.SIGINT, record)
    part.start()
    log.info("mlflow server starting on http://%s:%d", settings.mlflow_host, port)
    while not received and part.running():
        part.pump()
        time.sleep(0.1)
    code = part.stop(STOP_GRACE)
    if received:
        log.info("mlflow server stopped (signal %d)", received[0])
        return 0
    log.error("mlflow server exited with code %s", code)
    return 1

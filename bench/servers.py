"""The servers under test, started as subprocesses on 127.0.0.1 and stopped again.

Readiness is awaited by polling an endpoint until a deadline, never by a fixed
sleep. Each server runs in its own session (process group), so stopping it
never touches anything this harness did not start.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import procfs

BENCH = Path(__file__).resolve().parent
START_TIMEOUT = 240.0  # mlflow models serve downloads and loads the model first
STOP_TIMEOUT = 30.0
ROLE_IN_LOG = re.compile(r"\[(runner|main|http-\d+) (\d+)\]")
MODEL_NAMES = {"lr": "bench-lr", "rf": "bench-rf", "xgb": "bench-xgb", "lgbm": "bench-lgbm"}


class ServerError(RuntimeError):
    """A server exited or did not become ready in time."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ServerSpec:
    """What to start: kind is warmserve, mlflow (models serve) or constant (the ceiling)."""

    kind: str
    model: str | None
    workers: int
    flags: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        parts = [self.kind, self.model or "-", f"w{self.workers}", *self.flags]
        return " ".join(parts)

    @property
    def model_uri(self) -> str:
        assert self.model is not None
        return f"models:/{MODEL_NAMES[self.model]}@production"

    @property
    def ready_path(self) -> str:
        return "/health/ready" if self.kind == "warmserve" else "/ping"

    def command(self, bin_dir: Path, home: Path, port: int) -> list[str]:
        """The command line; every program comes from ``bin_dir`` (the venv's bin)."""
        if self.kind == "warmserve":
            return [
                str(bin_dir / "warmserve"),
                "serve",
                "--model",
                self.model_uri,
                "--workers",
                str(self.workers),
                "--home",
                str(home),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--cache",
                "off",  # the body never changes: a cache would measure lookups, not the model
                *self.flags,
            ]
        if self.kind == "mlflow":
            command = [
                str(bin_dir / "mlflow"),
                "models",
                "serve",
                "-m",
                self.model_uri,
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ]
            return [*command, "--workers", str(self.workers)] if self.workers > 1 else command
        return [
            str(bin_dir / "uvicorn"),
            "--app-dir",
            str(BENCH),
            "constant_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(self.workers),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ]

    def env(self, bin_dir: Path, home: Path) -> dict[str, str]:
        """The environment of an activated venv, minus settings that would leak in."""
        return venv_env(bin_dir, home if self.kind == "mlflow" else None)


def venv_env(bin_dir: Path, registry_home: Path | None) -> dict[str, str]:
    """An activated venv's environment; with ``registry_home``, aimed at its registry.

    warmserve finds the registry through ``--home``; MLflow's own tools (``mlflow
    models serve``, ``mlflow.pyfunc.load_model``) through MLFLOW_TRACKING_URI.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WARMSERVE_", "MLFLOW_TRACKING", "MLFLOW_REGISTRY"))
    }
    # `mlflow models serve` execs `uvicorn` found on PATH.
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(bin_dir.parent)
    env["PYTHONUNBUFFERED"] = "1"
    if registry_home is not None:
        # The same SQLite registry warmserve's Settings.resolved_tracking_uri() builds.
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{registry_home.resolve() / 'mlflow.db'}"
    return env


@dataclass
class RunningServer:
    spec: ServerSpec
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]
    started: float = field(default_factory=time.monotonic)
    ready_seconds: float = 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.base_url + "/invocations"

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    # --- readiness ------------------------------------------------------------
    def wait_ready(self, body: bytes, timeout: float = START_TIMEOUT) -> None:
        """Poll the readiness endpoint, then check one real prediction answers 200."""
        deadline = time.monotonic() + timeout
        successes = 0
        # Several consecutive successes on fresh connections: with N workers on one
        # listening socket, the first 200 may come from the only worker already up.
        needed = 3 * self.spec.workers
        while successes < needed:
            if self.process.poll() is not None:
                raise ServerError(
                    f"{self.spec.label} exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise ServerError(
                    f"{self.spec.label} not ready after {timeout}s:\n{self.log_tail()}"
                )
            successes = successes + 1 if _get_ok(self.base_url + self.spec.ready_path) else 0
            if successes == 0:
                time.sleep(0.1)  # poll interval, not a guess at the start-up time
        self._check_prediction(body)
        self.ready_seconds = time.monotonic() - self.started

    def _check_prediction(self, body: bytes) -> None:
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                answer = response.read()
        except (urllib.error.URLError, OSError) as exc:
            raise ServerError(f"{self.spec.label}: sample prediction failed: {exc}") from exc
        if b"predictions" not in answer:
            raise ServerError(f"{self.spec.label}: unexpected answer {answer[:200]!r}")

    def _model_view(self) -> dict[str, Any]:
        """warmserve's GET /model, or {} (another kind of server, or no answer)."""
        if self.spec.kind != "warmserve":
            return {}
        try:
            with urllib.request.urlopen(self.base_url + "/model", timeout=10) as response:
                view = json.load(response)
        except (urllib.error.URLError, OSError, ValueError):
            return {}
        return view if isinstance(view, dict) else {}

    def runner_batches(self) -> int | None:
        """warmserve only: how many batches the model runner has predicted so far."""
        batches = (self._model_view().get("runner") or {}).get("batches")
        return int(batches) if isinstance(batches, int) else None

    def predictor(self) -> dict[str, Any] | None:
        """warmserve only: the predictor that serves (``model.predictor`` of /model), in short.

        name (compiled-trees, numeric-frame, pyfunc), the compiled backend and the
        batch size above which it hands over to the library's predict, the thread
        limit and the native pools the model process runs, why others declined.
        """
        served = self._model_view().get("model") or {}
        predictor = served.get("predictor")
        if not isinstance(predictor, dict):
            return None
        detail = predictor.get("detail") or {}
        threads = detail.get("threads") or {}
        return {
            "name": predictor.get("name"),
            "backend": detail.get("backend"),
            "up_to_rows": detail.get("faster_up_to_rows"),
            "verified": (detail.get("verification") or {}).get("ok"),
            "pool_threads": sorted({p.get("num_threads") for p in threads.get("pools") or []}),
            "declined": predictor.get("declined") or {},
        }

    # --- processes ------------------------------------------------------------
    def roles(self) -> dict[int, str]:
        """pid -> role of every process of this server (the main one and descendants)."""
        tree = procfs.process_tree(self.process.pid)
        named = self._roles_from_log() if self.spec.kind == "warmserve" else {}
        roles: dict[int, str] = {}
        for pid, depth in tree.items():
            if pid in named:
                roles[pid] = "http-worker" if named[pid].startswith("http-") else named[pid]
            elif "resource_tracker" in procfs.cmdline(pid):
                roles[pid] = "resource-tracker"
            else:
                roles[pid] = _generic_role(self.spec.kind, depth)
        return roles

    def _roles_from_log(self) -> dict[int, str]:
        text = self.log_path.read_text(errors="replace")
        named = {int(pid): role for role, pid in ROLE_IN_LOG.findall(text)}
        named[self.process.pid] = "supervisor"
        return named

    def pids_of(self, role: str) -> list[int]:
        return sorted(pid for pid, r in self.roles().items() if r == role)

    def stop(self) -> None:
        """SIGTERM the main process, wait, then clean up its process group."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        _reap_group(self.process.pid)
        self.log_file.close()


def _generic_role(kind: str, depth: int) -> str:
    if kind == "warmserve":
        return "supervisor" if depth == 0 else "child"
    if kind == "mlflow":
        # mlflow CLI -> `uvicorn` (the server, or the manager of --workers) -> workers
        return ("mlflow-cli", "uvicorn", "uvicorn-worker")[min(depth, 2)]
    return ("uvicorn", "uvicorn-worker")[min(depth, 1)]


def _reap_group(pgid: int) -> None:
    """Terminate whatever is left in the server's own process group (its session)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


def _get_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def start(spec: ServerSpec, *, bin_dir: Path, home: Path, log_dir: Path) -> RunningServer:
    port = free_port()
    log_path = log_dir / f"{spec.label.replace(' ', '_')}-{port}.log"
    log_file = open(log_path, "wb")  # noqa: SIM115 - closed by RunningServer.stop()
    process = subprocess.Popen(
        spec.command(bin_dir, home, port),
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=spec.env(bin_dir, home),
        cwd=log_dir,
        start_new_session=True,
    )
    return RunningServer(spec, port, process, log_path, log_file)


@contextlib.contextmanager
def running_all(
    specs: list[ServerSpec], body: bytes, *, bin_dir: Path, home: Path, log_dir: Path
) -> Iterator[list[RunningServer]]:
    """Start every server at once (they load in parallel), then await each one."""
    started: list[RunningServer] = []
    try:
        for spec in specs:
            started.append(start(spec, bin_dir=bin_dir, home=home, log_dir=log_dir))
        for server in started:
            server.wait_ready(body)
        yield started
    finally:
        for server in started:
            server.stop()


@contextlib.contextmanager
def running(
    spec: ServerSpec, body: bytes, *, bin_dir: Path, home: Path, log_dir: Path
) -> Iterator[RunningServer]:
    server = start(spec, bin_dir=bin_dir, home=home, log_dir=log_dir)
    try:
        server.wait_ready(body)
        yield server
    finally:
        server.stop()

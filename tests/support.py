"""Test harness: a real `warmserve serve` subprocess and real MLflow registrations.

Readiness is always awaited by polling an endpoint with a deadline, never by sleeping
a fixed time.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
MODELS = Path(__file__).resolve().parent / "models"
LISTENING = re.compile(r"listening on (http://[\d.]+:\d+)")
# The machine's shared Redis; tests use DB 15 and a key prefix of their own.
REDIS_URL = f"redis://127.0.0.1:{os.environ.get('WARMSERVE_TEST_REDIS_PORT', '6379')}/15"


def wait_until(
    predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.05, what: str = ""
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (httpx.HTTPError, OSError, ValueError) as exc:
            last_error = exc
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what or predicate}: {last_error}"
    )


async def wait_until_async(
    predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.005, what: str = ""
) -> Any:
    """``wait_until`` for in-process tests: polls on the running event loop, never blocks it."""
    import asyncio

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


class Server:
    """`python -m warmserve serve` on a free port, logs in a file."""

    def __init__(self, home: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.log_path = home / f"server-{time.monotonic_ns()}.log"
        home.mkdir(parents=True, exist_ok=True)
        full_env = {
            **os.environ,
            "WARMSERVE_HOME": str(home),
            "WARMSERVE_PORT": "0",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "warmserve", "serve", *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=home,
        )
        self.url = wait_until(self._find_url, 60, what="the server to bind")
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def _find_url(self) -> str | None:
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()}")
        match = LISTENING.search(self.log())
        return match.group(1) if match else None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 90.0) -> dict[str, Any]:
        def ready() -> Any:
            response = self.client.get("/health/ready")
            return response.json() if response.status_code == 200 else None

        return wait_until(ready, timeout, what=f"readiness\n{self.log()[-3000:]}")

    def wait_version(self, version: str, timeout: float = 90.0) -> None:
        def serving() -> bool:
            model = self.client.get("/model").json().get("model") or {}
            return model.get("version") == version

        wait_until(serving, timeout, what=f"version {version}\n{self.log()[-3000:]}")

    def children(self) -> dict[str, int]:
        """Child processes by role name, read from /proc (runner, http-0, ...)."""
        found: dict[str, int] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                if ppid != self.proc.pid:
                    continue
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, IndexError, ValueError):
                continue
            if "resource_tracker" in cmdline:
                continue
            found[entry.name] = int(entry.name)
        return found

    def runner_pid(self) -> int:
        pattern = re.compile(r"runner (\d+) listening")
        pids = [int(m) for m in pattern.findall(self.log())]
        assert pids, self.log()
        return pids[-1]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.client.close()
        self._log.close()
        return self.proc.returncode


@contextlib.contextmanager
def serving(home: Path, *args: str) -> Iterator[Server]:
    """A ready server for the duration of a ``with`` block (or a yield fixture)."""
    server = Server(home, *args)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def register_recorder(
    settings: Any, name: str, calls_file: Path | None = None, alias: str | None = "production"
) -> str:
    """Register tests/models/recorder.py as a new version of ``name``."""
    import pandas as pd
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    signature = ModelSignature(
        inputs=Schema(
            [
                ColSpec("double", "x"),
                ColSpec("double", "sleep", required=False),
                ColSpec("long", "crash", required=False),
                ColSpec("long", "gate", required=False),
            ]
        ),
        outputs=Schema([ColSpec("double", "y")]),
    )
    config = {"calls_file": str(calls_file)} if calls_file else {}
    return register_code_model(
        settings, name, MODELS / "recorder.py", signature, pd.DataFrame({"x": [1.0]}), config, alias
    )


def register_code_model(
    settings: Any,
    name: str,
    code: Path,
    signature: Any = None,
    input_example: Any = None,
    model_config: dict[str, Any] | None = None,
    alias: str | None = "production",
) -> str:
    import mlflow

    from warmserve.registry import connect, ensure_experiment

    client = connect(settings)
    experiment = ensure_experiment(settings, client)
    with mlflow.start_run(experiment_id=experiment):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(code),
            model_config=model_config or None,
            signature=signature,
            input_example=input_example,
            registered_model_name=name,
            pip_requirements=["mlflow", "pandas"],
        )
    version = str(info.registered_model_version)
    if alias:
        client.set_registered_model_alias(name, alias, version)
    return version


def calls(path: Path) -> list[int]:
    """Batch sizes the recorder model saw, in order."""
    if not path.exists():
        return []
    return [int(line) for line in path.read_text().split()]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """End a child started with ``start_new_session=True`` and everything it started."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


class MlflowServer:
    """A real `mlflow server` subprocess (SQL backend + proxied artifacts) on 127.0.0.1.

    ``stop()`` and ``start()`` keep the same port and store, so tests can take the
    registry down and bring it back.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        log = open(self.root / "mlflow-server.log", "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--backend-store-uri",
                f"sqlite:///{self.root / 'mlflow.db'}",
                "--artifacts-destination",
                str(self.root / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
            start_new_session=True,
        )
        log.close()

        def healthy() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log()
            return httpx.get(f"{self.url}/health", timeout=2).status_code == 200

        wait_until(healthy, 120, interval=0.2, what="mlflow server")

    def log(self) -> str:
        return (self.root / "mlflow-server.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc)
        self.proc = None


class MlflowModelsServe:
    """`mlflow models serve -m URI --env-manager local` (MLflow's own scoring server) on a
    free port, in its own process group; ``stop()`` ends the whole group."""

    def __init__(self, root: Path, model_uri: str, tracking_uri: str) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = root / f"mlflow-models-serve-{self.port}.log"
        # MLflow runs `uvicorn` by name: this interpreter's scripts come first on PATH
        path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
        log = open(self.log_path, "wb")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri,
             "--env-manager", "local", "-h", "127.0.0.1", "-p", str(self.port), "-w", "1"],
            stdout=log, stderr=subprocess.STDOUT, cwd=root, start_new_session=True,
            env={**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "PATH": path},
        )  # fmt: skip
        log.close()
        self.client = httpx.Client(base_url=self.url, timeout=60)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 180.0) -> None:
        def ready() -> bool:
            assert self.proc.poll() is None, f"mlflow models serve exited:\n{self.log()}"
            return self.client.get("/ping").status_code == 200

        wait_until(ready, timeout, interval=0.2, what=f"mlflow models serve\n{self.log()}")

    def stop(self) -> None:
        self.client.close()
        stop_group(self.proc)


def start_redis(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    """A private redis-server on ``port`` (tests that kill Redis must not kill the shared one)."""
    import redis

    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port, socket_connect_timeout=0.5)

    def answers() -> bool:
        assert proc.poll() is None, "redis-server exited"
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    try:
        wait_until(answers, 20, what="redis-server")
    finally:
        client.close()
    return proc


@dataclass(frozen=True)
class Sample:
    started: float  # time.monotonic()
    latency: float  # seconds
    status: int
    version: str | None
    text: str


class Load:
    """Closed-loop clients POSTing ``body`` to /invocations until ``finish()``."""

    def __init__(self, url: str, body: dict[str, Any], clients: int = 16) -> None:
        self.url = url
        self.body = body
        self.samples: list[Sample] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._loop) for _ in range(clients)]
        for thread in self.threads:
            thread.start()

    def _loop(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as client:
            while not self.stop.is_set():
                started = time.monotonic()
                response = client.post("/invocations", json=self.body)
                sample = Sample(
                    started, time.monotonic() - started, response.status_code,
                    response.headers.get("x-model-version"), response.text[:200],
                )  # fmt: skip
                with self.lock:
                    self.samples.append(sample)

    def count(self) -> int:
        with self.lock:
            return len(self.samples)

    def finish(self) -> list[Sample]:
        self.stop.set()
        for thread in self.threads:
            thread.join(90)
            assert not thread.is_alive(), "a client hung"
        return self.samples


IRIS_ROW = {
    "sepal_length_cm": 5.1,
    "sepal_width_cm": 3.5,
    "petal_length_cm": 1.4,
    "petal_width_cm": 0.2,
}


def cli(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "WARMSERVE_HOME": str(home)}
    result = subprocess.run(
        [sys.executable, "-m", "warmserve", *args],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert result.returncode == 0, result.stderr + result.stdout
    return result


def samples(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = server.client.get("/metrics").text
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, metric: str, **labels: str) -> float:
    return found.get((metric, tuple(sorted(labels.items()))), 0.0)


# --- raw HTTP/1.1 over a socket (for what no HTTP client will send) -----------------------


def raw_connect(url: str, timeout: float = 30.0) -> Any:
    """A plain TCP socket to the server at ``url`` (http://host:port)."""
    import socket

    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=timeout)


def read_until_closed(sock: Any, timeout: float) -> bytes:
    """Everything the server sends until it closes the connection; fail after ``timeout``.

    Polls with a deadline: returns as soon as the server closes, whatever it sent.
    """
    deadline = time.monotonic() + timeout
    received = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"the connection stayed open for {timeout}s: {received!r}")
        sock.settimeout(min(left, 1.0))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:  # reset by the server: closed too
            return bytes(received)
        if not chunk:
            return bytes(received)
        received += chunk


def raw_request(url: str, data: bytes, timeout: float = 30.0) -> bytes:
    """Send ``data`` (one request with ``Connection: close``) and return the whole answer."""
    with raw_connect(url, timeout) as sock:
        sock.sendall(data)
        return read_until_closed(sock, timeout)


def status_of(answer: bytes) -> int:
    """The status code of a raw HTTP answer (0 when nothing was answered)."""
    if not answer.startswith(b"HTTP/1.1 "):
        return 0
    return int(answer[9:12])


# --- tree models saved with their MLflow flavor (runtime/trees tests) ---------------------


def save_and_load_flavor(flavor: Any, model: Any, path: Path, frame: Any, **kw: Any) -> Any:
    """Save ``model`` with ``flavor.save_model`` as a user would, load it as the server does.

    cloudpickle for sklearn (as the trainer logs it: skops refuses tree types), no
    requirement inference (it imports the model in a subprocess: seconds per save).
    """
    import warnings

    import mlflow.pyfunc
    import mlflow.sklearn
    from mlflow.models import infer_signature

    if flavor is mlflow.sklearn:
        kw["serialization_format"] = mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flavor.save_model(model, str(path), signature=infer_signature(frame), pip_requirements=[],
                          input_example=frame.head(3), **kw)  # fmt: skip
    return mlflow.pyfunc.load_model(str(path))


@contextlib.contextmanager
def isolated_registry(base: Path) -> Iterator[Any]:
    """Settings for an embedded registry under ``base``, with no tracking URI from outside;
    MLflow's globals are reset afterwards, so later tests do not write into it."""
    import mlflow
    import pytest

    from warmserve.settings import Settings

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("WARMSERVE_TRACKING_URI", raising=False)
        mp.chdir(base)  # so a stray ./mlruns would show up here
        yield Settings(home=base / "home")
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    mlflow.set_registry_uri(None)  # type: ignore[arg-type]


# --- the trainer and the stack ---------------------------------------------------------


def churn_frame(n: int, seed: int, invert: bool = False) -> Any:
    """A churn-like table: two numbers, one category, a 0/1 target a model can learn."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n)
    charges = rng.uniform(20, 120, n).round(2)
    plan = rng.choice(["basic", "plus", "pro"], n)
    score = -0.05 * tenure + 0.03 * charges + 0.8 * (plan == "basic") + rng.normal(0, 0.3, n)
    churned = (score > 0.6).astype(int)
    if invert:
        churned = 1 - churned
    return pd.DataFrame({"tenure": tenure, "charges": charges, "plan": plan, "churned": churned})


CHURN_ROW = {"tenure": 3, "charges": 99.0, "plan": "basic"}


def churn_csv(n: int, seed: int, invert: bool = False) -> bytes:
    return str(churn_frame(n, seed, invert).to_csv(index=False)).encode()


def drop_file(inbox: Path, name: str, data: bytes) -> float:
    """Write-then-rename into ``inbox``; returns the monotonic time the file landed."""
    inbox.mkdir(parents=True, exist_ok=True)
    tmp = inbox / f".{name}.tmp"
    tmp.write_bytes(data)
    landed = time.monotonic()
    tmp.rename(inbox / name)
    return landed


class Trainer:
    """`python -m warmserve trainer` in its own process group, logs in a file."""

    def __init__(self, home: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.log_path = home / f"trainer-{time.monotonic_ns()}.log"
        full_env = {
            **os.environ,
            "WARMSERVE_HOME": str(home),
            "WARMSERVE_TRAINER_PORT": "0",
            "WARMSERVE_TRAINER_SCAN_INTERVAL": "0.1",
            "WARMSERVE_TRAINER_SETTLE": "0.2",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "warmserve", "trainer", *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=home,
            start_new_session=True,
        )
        self.url = wait_until(self._find_url, 60, what="the trainer to bind")
        self.client = httpx.Client(base_url=self.url, timeout=30)
        wait_until(
            lambda: self.client.get("/health/ready").status_code == 200, 30, what="trainer ready"
        )

    def _find_url(self) -> str | None:
        if self.proc.poll() is not None:
            raise AssertionError(f"trainer exited with {self.proc.returncode}:\n{self.log()}")
        match = LISTENING.search(self.log())
        return match.group(1) if match else None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def jobs(self) -> list[dict[str, Any]]:
        return list(self.client.get("/jobs").json()["jobs"])

    def wait_job(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 180) -> Any:
        def found() -> Any:
            return next((job for job in self.jobs() if predicate(job)), None)

        return wait_until(found, timeout, interval=0.1, what=f"a job\n{self.log()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.client.close()
        self._log.close()
        return self.proc.returncode


def processes_mentioning(marker: str) -> list[int]:
    """Pids whose command line or environment contains ``marker`` (e.g. a test's home)."""
    found: list[int] = []
    needle = marker.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            blob = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in blob:
            found.append(int(entry.name))
    return found


def registered_versions(tracking_uri: str, name: str) -> list[str]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    versions = client.search_model_versions(f"name='{name}'")
    return sorted((str(v.version) for v in versions), key=int)


def wait_prediction(api: str, row: dict[str, Any], timeout: float, what: str = "") -> Any:
    """The first 200 answer of POST {api}/predict, polled until ``timeout``."""

    def answered() -> httpx.Response | None:
        response = httpx.post(f"{api}/predict", json=row, timeout=10)
        return response if response.status_code == 200 else None

    return wait_until(answered, timeout, interval=0.5, what=what or "a prediction")

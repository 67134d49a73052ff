"""In-process predict of a bench model: the yardstick of 1,000-row and bulk requests.

The target "1,000-row requests: rows/s >= 0.7 x the same model's in-process
predict rows/s" needs the model's own speed, measured on the same data, in the
same run. A subprocess (the orchestrator never imports MLflow) loads the model
with ``mlflow.pyfunc.load_model``, prints ``READY``, then answers one line per
command read from stdin:

    {"csv": PATH, "calls": N, "seconds": S, "threads": null}   # or "threads": 1
    -> INPROCESS {"rows": R, "seconds": [...], "peak_extra_mib": M}

Each command reads the CSV once into a float64 frame (cached), makes one
warm-up call, then timed calls of ``model.predict(frame)`` (what a user's
script would do) until both N calls and S seconds are done: a fast model gets
many calls, so its median survives a busy machine. ``threads: 1`` runs them
inside threadpoolctl's limit, as the server's model process does with its
default ``model_threads=1``;
``peak_extra_mib`` is the largest RSS growth during one call (from VmHWM).
The harness keeps the subprocess alive beside the server, so in-process and
server measurements can take turns under the same background load.

    .venv/bin/python bench/inprocess.py models:/bench-rf@production  # MLFLOW_TRACKING_URI set
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import procfs

READY = "READY"
MARKER = "INPROCESS "
LOAD_TIMEOUT = 240.0
MAX_CALLS = 1000


class InProcessError(RuntimeError):
    """The in-process subprocess exited, failed a command or did not answer in time."""


# --- the subprocess -----------------------------------------------------------
def serve(uri: str) -> None:
    import mlflow.pyfunc
    import pandas as pd
    from threadpoolctl import threadpool_limits

    model = mlflow.pyfunc.load_model(uri)
    frames: dict[str, pd.DataFrame] = {}
    print(READY, flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        path = command["csv"]
        if path not in frames:
            frames[path] = pd.read_csv(path, dtype="float64")
        frame = frames[path]
        limit = command.get("threads")
        limits = threadpool_limits(limit) if limit else contextlib.nullcontext()
        seconds: list[float] = []
        peak_extra_kib = 0
        with limits:
            model.predict(frame)  # warm-up: first-call allocations and lazy imports
            deadline = time.monotonic() + float(command.get("seconds", 0.0))
            while len(seconds) < MAX_CALLS and (
                len(seconds) < int(command["calls"]) or time.monotonic() < deadline
            ):
                procfs.reset_peak_rss(os.getpid())
                before = procfs.memory(os.getpid())
                started = time.perf_counter()
                model.predict(frame)
                seconds.append(time.perf_counter() - started)
                peak = procfs.peak_rss_kib(os.getpid())
                if before is not None and peak is not None:
                    peak_extra_kib = max(peak_extra_kib, peak - before.rss_kib)
        answer = {"rows": len(frame), "seconds": seconds, "peak_extra_mib": peak_extra_kib / 1024}
        print(MARKER + json.dumps(answer), flush=True)


# --- the harness side ---------------------------------------------------------
class InProcess:
    """A running in-process subprocess; ``measure`` sends one command and awaits its answer."""

    def __init__(self, process: subprocess.Popen[str], log: IO[bytes]) -> None:
        self.process = process
        self.log = log
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)  # end of output: the process exited

    def _next_line(self, prefix: str, deadline: float) -> str:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise InProcessError(f"no {prefix.strip()!r} line before the deadline")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise InProcessError(f"exited with {self.process.wait(10)}; see its log")
            if line.startswith(prefix):
                return line[len(prefix) :]

    def wait_ready(self, timeout: float = LOAD_TIMEOUT) -> None:
        self._next_line(READY, time.monotonic() + timeout)

    def measure(
        self, csv: Path, calls: int, seconds: float, threads: int | None, timeout: float
    ) -> dict[str, Any]:
        """Predict on the CSV's rows (at least ``calls`` times and ``seconds`` long)."""
        assert self.process.stdin is not None
        command = {"csv": str(csv), "calls": calls, "seconds": seconds, "threads": threads}
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        answer: dict[str, Any] = json.loads(self._next_line(MARKER, time.monotonic() + timeout))
        return answer

    def stop(self) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()  # end of commands: serve() returns
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.log.close()


@contextlib.contextmanager
def running(python: Path, uri: str, env: dict[str, str], log_path: Path) -> Iterator[InProcess]:
    """Start the subprocess for model ``uri``, await READY, stop it afterwards."""
    log = log_path.open("wb")
    process = subprocess.Popen(
        [str(python), str(Path(__file__).resolve()), uri],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        env=env,
        text=True,
        start_new_session=True,
    )
    handle = InProcess(process, log)
    try:
        handle.wait_ready()
        yield handle
    finally:
        handle.stop()


if __name__ == "__main__":
    serve(sys.argv[1])

"""The load generator: wrk with bench/wrk_post.lua, results parsed from its JSON line."""

from __future__ import annotations

import json
import os
import resource
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

LUA = Path(__file__).resolve().parent / "wrk_post.lua"
MARKER = "WRK_JSON "
WRK_TIMEOUT = "10s"  # a slow baseline is measured as slow, not as errors


class LoadError(RuntimeError):
    """wrk failed to run or printed no result."""


@dataclass(frozen=True)
class WrkResult:
    connections: int
    threads: int
    seconds: float
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int  # responses with status >= 400 (wrk counts 3xx there too; none occur here)
    socket_errors: dict[str, int]
    wrk_cpu_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def threads_for(connections: int) -> int:
    return 1 if connections < 2 else 2


def run_wrk(
    url: str,
    connections: int,
    seconds: int,
    body_file: Path,
    extra_env: dict[str, str] | None = None,
) -> WrkResult:
    """Run wrk against POST ``url`` for ``seconds``; raise LoadError if it fails."""
    threads = threads_for(connections)
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        f"--timeout={WRK_TIMEOUT}",
        "--latency",
        "-s",
        str(LUA),
        url,
    ]
    env = {**os.environ, "WRK_BODY_FILE": str(body_file), **(extra_env or {})}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LoadError(f"wrk did not run: {exc}") from exc
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return parse_output(done.stdout, done.stderr, connections, threads, cpu)


def parse_output(stdout: str, stderr: str, connections: int, threads: int, cpu: float) -> WrkResult:
    line = next((ln for ln in stdout.splitlines() if ln.startswith(MARKER)), None)
    if line is None:
        raise LoadError(f"wrk printed no result:\n{stdout}\n{stderr}")
    data = json.loads(line[len(MARKER) :])
    seconds = data["duration_us"] / 1e6
    latency = data["latency_us"]
    errors = data["errors"]
    return WrkResult(
        connections=connections,
        threads=threads,
        seconds=round(seconds, 3),
        requests=data["requests"],
        rps=round(data["requests"] / seconds, 1) if seconds else 0.0,
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        max_ms=latency["max"] / 1000,
        non_2xx=errors["status"],
        socket_errors={k: v for k, v in errors.items() if k != "status"},
        wrk_cpu_seconds=round(cpu, 3),
    )

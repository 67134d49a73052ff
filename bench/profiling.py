"""py-spy sampling of a server process under load, and a summary of where time goes.

``py-spy record --format raw`` writes collapsed stacks, one line per distinct
stack: ``thread (TID): NAME;frame;frame;... COUNT``. With ``--idle`` the
samples of waiting threads are kept, so each thread's percentages are of wall
time: a thread's "waiting" share is the time its leaf frame is a known wait
point (a thread-pool worker's queue get, the event loop running in C).
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LINE_NUMBER = re.compile(r":\d+\)$")
# Leaf frames that mean "blocked or inside C code of the event loop", not Python work.
WAIT_LEAVES = (
    "_worker (concurrent/futures/thread.py)",  # idle thread-pool worker (queue.get)
    "Runner.run (asyncio/runners.py)",  # uvloop's C loop (epoll, or its own C code)
    "run (uvloop/__init__.py)",
    "Server.serve (uvicorn/server.py)",
    "asyncio_run (uvicorn/_compat.py)",
    "wait (threading.py)",
    "Condition.wait (threading.py)",
    "Event.wait (threading.py)",
    "select (selectors.py)",
    "EpollSelector.select (selectors.py)",
    "sleep",
)
# Frames every stack of a thread passes through: left out of the inclusive ranking.
PLUMBING = (
    "threading.py",
    "multiprocessing/",
    "concurrent/futures/thread.py",
    "asyncio/runners.py",
    "uvloop/__init__.py",
    "<module> (<string>)",
    "uvicorn/server.py",
    "uvicorn/main.py",
    "uvicorn/_compat.py",
    "warmserve/http/worker.py",
    "runner_main (warmserve/runtime/runner.py)",
    "_run (warmserve/runtime/runner.py)",
)


def start_record(py_spy: Path, pid: int, seconds: int, output: Path) -> subprocess.Popen[bytes]:
    """Start sampling ``pid`` for ``seconds`` (non-blocking: the target is never paused)."""
    command = [
        str(py_spy),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(seconds),
        "--rate",
        "100",
        "--format",
        "raw",
        "--output",
        str(output),
        "--nonblocking",
        "--threads",
        "--idle",
        "--function",
    ]
    log = output.with_suffix(".log").open("wb")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def _frame(text: str) -> str:
    return LINE_NUMBER.sub(")", text.strip())


@dataclass
class ThreadProfile:
    name: str
    samples: int
    waiting: int
    self_time: Counter[str]
    inclusive: Counter[str]

    def top(self, counter: Counter[str], n: int) -> list[tuple[str, float]]:
        return [(frame, 100.0 * count / self.samples) for frame, count in counter.most_common(n)]

    def to_dict(self, n: int = 15) -> dict[str, Any]:
        return {
            "thread": self.name,
            "samples": self.samples,
            "waiting_pct": round(100.0 * self.waiting / max(1, self.samples), 1),
            "top_self_pct": [(f, round(p, 1)) for f, p in self.top(self.self_time, n)],
            "top_inclusive_pct": [
                (f, round(p, 1))
                for f, p in self.top(self.inclusive, n + len(PLUMBING))
                if not any(part in f for part in PLUMBING)
            ][:n],
        }


def summarize(raw: Path) -> list[ThreadProfile]:
    """Per-thread sample counts, self and inclusive time by function, busiest thread first."""
    threads: dict[str, ThreadProfile] = {}
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        _, _, frames_text = stack.partition(": ")
        name, *frames = frames_text.split(";")
        profile = threads.setdefault(name, ThreadProfile(name, 0, 0, Counter(), Counter()))
        profile.samples += count
        frames = [_frame(f) for f in frames]
        leaf = frames[-1] if frames else "(no Python frame)"
        if leaf in WAIT_LEAVES or leaf.startswith(WAIT_LEAVES):
            profile.waiting += count
            leaf = f"[waiting / in C] {leaf}"
        profile.self_time[leaf] += count
        for frame in set(frames):
            profile.inclusive[frame] += count
    return sorted(threads.values(), key=lambda t: t.samples - t.waiting, reverse=True)

"""Soak: a server under steady load for N minutes while its alias moves every ~30 s.

    .venv/bin/python bench/soak.py [--minutes 10] [--swap-every 30] [--clients 8]
        [--rate 150] [--workers 2] [--sample-every 5] [--out docs/soak.md]

Serves the two LogisticRegression versions of bench/hot_reload.py (same registry,
bench/.home-reload) with 2 HTTP workers and a local cache off, polls the registry
every 2 s, and moves the alias between the versions every ``--swap-every``
seconds. Closed-loop clients, paced to about ``--rate`` requests/s in total, POST
one 20-feature row and count every answer that is not a 200. Every
``--sample-every`` seconds it records RSS, PSS and open file descriptors of each
process of the server (from /proc). After ``--warmup`` seconds not counted, it
compares the first and last quarter of the run: flat memory and descriptors and
zero failures are the pass mark. The table is written to ``--out``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from hot_reload import HOME, NAME, ROW, prepare, serving
from procfs import cmdline, machine_facts, memory, process_tree

from support import Server, wait_until
from warmserve.registry import connect
from warmserve.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class PacedLoad:
    """``clients`` threads POSTing ``ROW``, each paced to ``rate / clients`` requests/s."""

    url: str
    clients: int
    rate: float
    statuses: Counter[int] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self.threads = [threading.Thread(target=self._loop) for _ in range(self.clients)]
        for thread in self.threads:
            thread.start()

    def _loop(self) -> None:
        period = self.clients / self.rate
        with httpx.Client(base_url=self.url, timeout=60) as client:
            next_at = time.monotonic()
            while not self.stop.is_set():
                try:
                    response = client.post("/invocations", json=ROW)
                    status, text = response.status_code, response.text[:200]
                except httpx.HTTPError as exc:
                    status, text = 0, repr(exc)
                with self.lock:
                    self.statuses[status] += 1
                    if status != 200 and len(self.examples) < 10:
                        self.examples.append(f"{status}: {text}")
                next_at += period
                self.stop.wait(max(0.0, next_at - time.monotonic()))

    def finish(self) -> Counter[int]:
        self.stop.set()
        for thread in self.threads:
            thread.join(120)
        return self.statuses


@dataclass(frozen=True)
class Sample:
    at: float  # seconds since the measured part began
    role: str
    pid: int
    rss_kib: int
    pss_kib: int
    fds: int


def roles(server: Server) -> dict[int, str]:
    """Every process of the server by role: supervisor, runner, http workers, helpers."""
    runner = server.runner_pid()
    found: dict[int, str] = {}
    for pid, depth in process_tree(server.proc.pid).items():
        if depth == 0:
            found[pid] = "supervisor"
        elif pid == runner:
            found[pid] = "runner"
        elif depth == 1 and "resource_tracker" in cmdline(pid):
            found[pid] = "resource tracker"
        else:
            found[pid] = "http worker" if depth == 1 else "other"
    return found


def sample(server: Server, at: float) -> list[Sample]:
    taken = []
    for pid, role in roles(server).items():
        mem = memory(pid)
        try:
            fds = len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            continue
        if mem is not None:
            taken.append(Sample(at, role, pid, mem.rss_kib, mem.pss_kib, fds))
    return taken


def quarters(samples: list[Sample], duration: float) -> list[tuple[str, str]]:
    """Table rows per role: memory (mean) and descriptors (max), first vs last quarter."""
    rows = []
    by_role: dict[str, list[Sample]] = {}
    for s in samples:
        by_role.setdefault(s.role, []).append(s)
    for role, taken in sorted(by_role.items()):
        first = [s for s in taken if s.at < duration / 4]
        last = [s for s in taken if s.at >= duration * 3 / 4]
        if not first or not last:
            continue
        processes = len({s.pid for s in taken})

        def mib(values: list[Sample], attr: str) -> float:
            # summed over the processes of the role at each instant, then averaged
            per_instant: dict[float, int] = {}
            for s in values:
                per_instant[s.at] = per_instant.get(s.at, 0) + getattr(s, attr)
            return statistics.mean(per_instant.values()) / 1024

        def fds(values: list[Sample]) -> int:
            per_instant: dict[float, int] = {}
            for s in values:
                per_instant[s.at] = per_instant.get(s.at, 0) + s.fds
            return max(per_instant.values())

        cells = []
        for attr in ("rss_kib", "pss_kib"):
            a, b = mib(first, attr), mib(last, attr)
            cells.append(f"{a:.1f} → {b:.1f} ({b - a:+.1f})")
        a_fds, b_fds = fds(first), fds(last)
        cells.append(f"{a_fds} → {b_fds} ({b_fds - a_fds:+d})")
        rows.append((f"{role} ({processes} pid{'s' if processes > 1 else ''})", " | ".join(cells)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--swap-every", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rate", type=float, default=150.0, help="total requests/s aimed at")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sample-every", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=30.0)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "soak.md")
    args = parser.parse_args()

    settings = Settings(home=HOME)
    versions = prepare(settings)
    registry = connect(settings)
    server = Server(HOME, "--model", f"models:/{NAME}@production", "--workers",
                    str(args.workers), "--poll-interval", "2")  # fmt: skip
    samples: list[Sample] = []
    swaps = swap_failures = 0
    try:
        server.wait_ready()
        load = PacedLoad(server.url, args.clients, args.rate)
        load.start()
        time.sleep(args.warmup)  # allocator and caches settle; not measured
        started = time.monotonic()
        duration = args.minutes * 60
        next_swap = started + args.swap_every
        target = 1
        while (now := time.monotonic()) - started < duration:
            samples += sample(server, round(now - started, 3))
            if now >= next_swap:
                registry.set_registered_model_alias(NAME, "production", versions[target])
                try:
                    wait_until(lambda t=versions[target]: serving(server) == t, 60, 0.05)
                    swaps += 1
                except AssertionError:
                    swap_failures += 1
                target = 1 - target
                next_swap += args.swap_every
            time.sleep(max(0.0, args.sample_every - (time.monotonic() - now)))
        statuses = load.finish()
        restarts = server.log().count("restarting") + server.log().count("starting a new one")
    finally:
        server.stop()
    requests = sum(statuses.values())
    failures = requests - statuses.get(200, 0)
    report = render(args, samples, duration, requests, failures, swaps, swap_failures, restarts)
    if load.examples:
        report += "\nFirst failures:\n\n" + "\n".join(f"- `{e}`" for e in load.examples) + "\n"
    args.out.write_text(report)
    print(report)


def render(
    args: argparse.Namespace,
    samples: list[Sample],
    duration: float,
    requests: int,
    failures: int,
    swaps: int,
    swap_failures: int,
    restarts: int,
) -> str:
    facts = machine_facts()
    command = (
        f"bench/soak.py --minutes {args.minutes:g} --swap-every {args.swap_every:g} "
        f"--clients {args.clients} --rate {args.rate:g} --workers {args.workers}"
    )
    lines = [
        "# Soak: steady load with swaps",
        "",
        "A server under steady load while its alias moves between two versions: memory",
        "and open file descriptors of every process must stay flat and no request may",
        "fail. Reproduce (about the given minutes plus one; it loads the machine):",
        "",
        "```",
        f".venv/bin/python {command}",
        "```",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {facts.get('cpu', '?')}, "
        f"{os.cpu_count()} CPUs, {facts.get('memory', '?')} (load average at the end "
        f"{facts.get('loadavg', '?')}; the machine was shared with other work). "
        f"{args.warmup:g} s of warm-up are not measured; memory is the mean and "
        "descriptors the maximum over the first and the last quarter of the run, "
        f"sampled every {args.sample_every:g} s, summed over the processes of each role.",
        "",
        "| | |",
        "|---|---|",
        f"| duration measured | {duration / 60:g} min |",
        f"| requests | {requests:,} (≈ {requests / (duration + args.warmup):.0f}/s) |",
        f"| failed requests (not 200) | {failures} |",
        f"| swaps completed / failed | {swaps} / {swap_failures} |",
        f"| processes restarted | {restarts} |",
        "",
        "| process | RSS MiB first → last quarter | PSS MiB first → last | open fds first → last |",
        "|---|---|---|---|",
    ]
    lines += [f"| {role} | {cells} |" for role, cells in quarters(samples, duration)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

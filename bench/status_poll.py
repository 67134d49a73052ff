"""Does an open status page slow predictions? Throughput with and without pollers.

    .venv/bin/python bench/status_poll.py [--duration 10] [--repeats 5] [--pages 1,10]
                                          [--no-docs]

One warmserve server (2 HTTP workers, cache off, a 20-feature LogisticRegression)
is loaded by wrk (16 connections, one-row POST /invocations) while 0, 1 or N
"open pages" poll GET /status.json at the page's own rate (every status_interval,
2 s by default), each over its own keep-alive connection as a browser would. The
conditions run interleaved in one run (the order rotates every round) so that
background load hits them alike; the table shows medians and the min-max range,
and the server-side cost of one /status.json. Rewrites the block between the
bench:status markers in docs/status-page.md unless --no-docs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "tests"))
from loadgen import run_wrk  # noqa: E402  (bench/, the script's own directory)

from support import Server  # noqa: E402

HOME = BENCH / ".home-status"
NAME = "status-lr"
ROW = {"dataframe_split": {"columns": [f"f{i}" for i in range(20)], "data": [[0.1] * 20]}}
DOC = ROOT / "docs" / "status-page.md"
BEGIN, END = "<!-- bench:status:begin", "<!-- bench:status:end -->"
PERIOD = 2.0  # the page's refresh interval (status_interval's default)


@dataclass
class Pollers:
    """``pages`` threads, each a page polling /status.json every PERIOD seconds."""

    url: str
    pages: int
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for index in range(self.pages):
            thread = threading.Thread(target=self._poll, args=(index,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _poll(self, index: int) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            next_at = time.monotonic() + PERIOD * index / max(1, self.pages)  # spread out
            while not self.stop.is_set():
                self.stop.wait(max(0.0, next_at - time.monotonic()))  # pacing, not readiness
                if self.stop.is_set():
                    return
                started = time.perf_counter()
                response = client.get("/status.json")
                elapsed = time.perf_counter() - started
                if response.status_code == 200 and "charts" in response.json():
                    self.latencies.append(elapsed)
                else:
                    self.failures += 1
                next_at += PERIOD

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)


def prepare() -> None:
    """Train the model once into bench/.home-status (in a subprocess: no sklearn here)."""
    code = (
        "from warmserve.registry import connect, train_synthetic\n"
        "from warmserve.settings import Settings\n"
        f"s = Settings(home={str(HOME)!r})\n"
        f"if not connect(s).search_model_versions(\"name='{NAME}'\"):\n"
        f"    train_synthetic(s, name={NAME!r}, estimator='logistic', promote='production')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=600)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def git_rev() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, cwd=ROOT, check=False)  # fmt: skip
    return done.stdout.strip() or "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pages", default="1,10", help="numbers of open pages to compare")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    conditions = [0, *(int(n) for n in args.pages.split(","))]
    prepare()
    started_load = load_average()
    server = Server(HOME, "--model", f"models:/{NAME}@production", "--workers", "2",
                    "--cache", "off", "--poll-interval", "0")  # fmt: skip
    results: dict[int, list[dict[str, float]]] = {n: [] for n in conditions}
    poll_latencies: dict[int, list[float]] = {n: [] for n in conditions}
    try:
        server.wait_ready()
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as body:
            json.dump(ROW, body)
        body_file = Path(body.name)
        run_wrk(server.url + "/invocations", args.connections, 3, body_file)  # warm-up
        for round_index in range(args.repeats):
            shift = round_index % len(conditions)
            for pages in conditions[shift:] + conditions[:shift]:
                pollers = Pollers(server.url, pages)
                pollers.start()
                try:
                    result = run_wrk(
                        server.url + "/invocations", args.connections, args.duration, body_file
                    )
                finally:
                    pollers.finish()
                assert result.non_2xx == 0 and pollers.failures == 0, (result, pollers.failures)
                results[pages].append({"rps": result.rps, "p50": result.p50_ms,
                                       "p99": result.p99_ms})  # fmt: skip
                poll_latencies[pages] += pollers.latencies
                print(
                    f"round {round_index + 1} pages={pages}: {result.rps:.0f} req/s "
                    f"p50 {result.p50_ms:.1f} ms p99 {result.p99_ms:.1f} ms",
                    flush=True,
                )
        body_file.unlink()
    finally:
        server.stop()
    report = render(results, poll_latencies, args, started_load, load_average())
    print(report)
    if not args.no_docs:
        text = DOC.read_text()
        block = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
        DOC.write_text(block.sub(lambda _: report.strip(), text))


def render(
    results: dict[int, list[dict[str, float]]],
    polls: dict[int, list[float]],
    args: argparse.Namespace,
    load_before: str,
    load_after: str,
) -> str:
    none = [r["rps"] for r in results[0]]
    lines = [
        f"{BEGIN} (generated by bench/status_poll.py; edits here are lost) -->",
        f"Measured {datetime.now(UTC).isoformat(timespec='seconds')} on {os.cpu_count()} "
        f"CPU(s), warmserve at git {git_rev()}; load average {load_before} at the start, "
        f"{load_after} at the end. Reproduce: `.venv/bin/python bench/status_poll.py`.",
        "",
        f"wrk, {args.connections} connections, one-row `POST /invocations` (20 floats, "
        f"LogisticRegression), 2 HTTP workers, cache off; {args.repeats} interleaved rounds of "
        f"{args.duration} s per condition; each open page polls `/status.json` every "
        f"{PERIOD:g} s.",
        "",
        "| open pages | /status.json per s | predictions/s (median) | min-max | vs none "
        "(median of the rounds' ratios) | p50 ms | p99 ms | /status.json ms (median) |",
        "|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for pages, rows in results.items():
        rps = [r["rps"] for r in rows]
        median = statistics.median(rps)
        poll = f"{statistics.median(polls[pages]) * 1000:.1f}" if polls[pages] else "-"
        # paired by round: both ran within the same minute, so drift in the machine's
        # background load cancels out of the ratio more than out of the medians
        ratio = statistics.median(r / base for r, base in zip(rps, none, strict=True))
        p50 = statistics.median(r["p50"] for r in rows)
        p99 = statistics.median(r["p99"] for r in rows)
        lines.append(
            f"| {pages} | {pages / PERIOD:g} | {median:,.0f} | {min(rps):,.0f}-{max(rps):,.0f} | "
            f"{(ratio - 1) * 100:+.1f}% | {p50:.1f} | {p99:.1f} | {poll} |"
        )
    lines.append(END)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

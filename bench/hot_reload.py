"""Hot-reload benchmark: (a) alias change -> new version serving, per poll interval;
(b) prediction latency while a swap happens vs steady state.

    .venv/bin/python bench/hot_reload.py [--intervals 0,1,2,5] [--repeats 5] [--clients 8]

Interval 0 means "poll only on request": the alias move is followed by
`POST /reload` and the time includes that call. Versions are two scikit-learn
LogisticRegressions on 20 float features, registered in an embedded SQLite
registry under bench/.home-reload and loaded through pyfunc.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support import Server, wait_until
from warmserve.registry import connect, train_synthetic
from warmserve.settings import Settings

HOME = Path(__file__).resolve().parent / ".home-reload"
NAME = "reload-lr"
ROW = {"dataframe_split": {"columns": [f"f{i}" for i in range(20)], "data": [[0.1] * 20]}}


def prepare(settings: Settings) -> tuple[str, str]:
    client = connect(settings)
    versions = [v.version for v in client.search_model_versions(f"name='{NAME}'")]
    while len(versions) < 2:
        versions.append(train_synthetic(settings, name=NAME, estimator="logistic").version)
    first, second = sorted(versions, key=int)[:2]
    client.set_registered_model_alias(NAME, "production", first)
    return first, second


def serving(server: Server) -> str | None:
    model = server.client.get("/model").json().get("model") or {}
    return model.get("version")


class Traffic:
    """Closed-loop clients recording (start time, latency, status, version)."""

    def __init__(self, url: str, clients: int) -> None:
        self.url = url
        self.samples: list[tuple[float, float, int, str | None]] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.loop) for _ in range(clients)]
        for thread in self.threads:
            thread.start()

    def loop(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as client:
            while not self.stop.is_set():
                started = time.monotonic()
                response = client.post("/invocations", json=ROW)
                elapsed = time.monotonic() - started
                with self.lock:
                    self.samples.append(
                        (
                            started,
                            elapsed,
                            response.status_code,
                            response.headers.get("x-model-version"),
                        )
                    )

    def finish(self) -> list[tuple[float, float, int, str | None]]:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)
        return self.samples


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def measure_interval(
    settings: Settings, versions: tuple[str, str], interval: float, repeats: int, clients: int
) -> dict[str, object]:
    client = connect(settings)
    client.set_registered_model_alias(NAME, "production", versions[0])
    server = Server(HOME, "--model", f"models:/{NAME}@production", "--workers", "2",
                    "--poll-interval", str(interval))  # fmt: skip
    try:
        server.wait_ready()
        traffic = Traffic(server.url, clients)
        delays: list[float] = []
        windows: list[tuple[float, float]] = []
        target_index = 1
        time.sleep(2)  # steady-state traffic before the first swap (a measurement window)
        for _ in range(repeats):
            target = versions[target_index]
            moved = time.monotonic()
            client.set_registered_model_alias(NAME, "production", target)
            if interval == 0:
                server.client.post("/reload")
            wait_until(lambda t=target: serving(server) == t, 120, interval=0.01)
            done = time.monotonic()
            delays.append(done - moved)
            windows.append((moved, done + 0.5))
            target_index = 1 - target_index
            time.sleep(1.5)  # let the swap settle: steady samples between swaps
        samples = traffic.finish()
    finally:
        server.stop()
    in_swap = [lat for start, lat, _, _ in samples if any(a <= start <= b for a, b in windows)]
    steady = [lat for start, lat, _, _ in samples if not any(a <= start <= b for a, b in windows)]
    return {
        "interval": interval,
        "delay_median": statistics.median(delays),
        "delay_max": max(delays),
        "failed": sum(1 for _, _, status, _ in samples if status != 200),
        "requests": len(samples),
        "steady_p50": percentile(steady, 0.5) * 1000,
        "steady_p99": percentile(steady, 0.99) * 1000,
        "swap_p50": percentile(in_swap, 0.5) * 1000,
        "swap_p99": percentile(in_swap, 0.99) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--intervals", default="0,1,2,5")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    settings = Settings(home=HOME)
    versions = prepare(settings)
    rows = [
        measure_interval(settings, versions, float(i), args.repeats, args.clients)
        for i in args.intervals.split(",")
    ]
    print("| poll interval (s) | alias -> serving, median (s) | max (s) | failed / requests "
          "| steady p50 / p99 (ms) | during swap p50 / p99 (ms) |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for r in rows:
        label = "0 (POST /reload)" if r["interval"] == 0 else f"{r['interval']:g}"
        print(
            f"| {label} | {r['delay_median']:.2f} | {r['delay_max']:.2f} "
            f"| {r['failed']} / {r['requests']} "
            f"| {r['steady_p50']:.1f} / {r['steady_p99']:.1f} "
            f"| {r['swap_p50']:.1f} / {r['swap_p99']:.1f} |"
        )


if __name__ == "__main__":
    main()

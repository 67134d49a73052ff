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
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support import Load, Server, wait_until
from warmserve.registry import connect
from warmserve.settings import Settings
from warmserve.training import train_synthetic

HOME = Path(__file__).resolve().parent / ".home-reload"
NAME = "reload-lr"
ROW = {"dataframe_split": {"columns": [f"f{i}" for i in range(20)], "data": [[0.1] * 20]}}


def prepare(settings: Settings) -> tuple[str, str]:
    client = connect(settings)
    versions = [str(v.version) for v in client.search_model_versions(f"name='{NAME}'")]
    while len(versions) < 2:
        versions.append(train_synthetic(settings, name=NAME, estimator="logistic").version)
    first, second = sorted(versions, key=int)[:2]
    client.set_registered_model_alias(NAME, "production", first)
    return first, second


def serving(server: Server) -> str | None:
    model = server.client.get("/model").json().get("model") or {}
    return model.get("version")


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
        traffic = Load(server.url, ROW, clients)
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
    swapping = [any(a <= s.started <= b for a, b in windows) for s in samples]
    in_swap = [s.latency for s, during in zip(samples, swapping, strict=True) if during]
    steady = [s.latency for s, during in zip(samples, swapping, strict=True) if not during]
    return {
        "interval": interval,
        "delay_median": statistics.median(delays),
        "delay_max": max(delays),
        "failed": sum(1 for s in samples if s.status != 200),
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

"""Requests per second through haproxy with 1, 2 and 3 API replicas on separate hosts.

    bash bench/setup.sh && bash scripts/ensure-haproxy.sh   # once: wrk, haproxy
    .venv/bin/python bench/scale_out.py                      # as root; ~2 min

Each replica is a network namespace on a private bridge (tests/hosts.py) running
`warmserve serve` with the environment of the Helm chart's Deployment (2 HTTP
workers), except: the registry is a SQLite file all hosts can read (no MLflow
server, nothing but the replicas to measure) and the cache is off (every request
reaches a model). haproxy in the root namespace balances round robin, as in
tests/e2e/test_multihost.py. For each replica count, wrk runs a warm-up, then a
measured run with one fixed one-row iris request; CPU is read from /proc for every
process of the replicas and haproxy (wrk's own CPU is reported apart).

This machine has 2 cores: replicas, haproxy and wrk share them, so more replicas
cannot add throughput here; the figure shows the overhead of the balanced path and
CPU per request, not the scaling a cluster of separate nodes would give.
Raw results: bench/results/scale-out-STAMP.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import loadgen
import procfs

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))

from balancer import HAProxy  # noqa: E402
from chart import render  # noqa: E402
from hosts import Network, Process, network, why_unavailable  # noqa: E402
from support import wait_until  # noqa: E402

BIN = Path(sys.executable).parent
MODEL = "churn"
ROW = {"sepal_length_cm": 5.1, "sepal_width_cm": 3.5, "petal_length_cm": 1.4,
       "petal_width_cm": 0.2}  # fmt: skip


def replica_env(registry: str, pod: str, home: Path) -> dict[str, str]:
    env = render().env("api", pod)
    env.pop("WARMSERVE_CACHE")  # off: every request reaches the model
    env.update(
        WARMSERVE_TRACKING_URI=registry,
        HOME=str(home),
        TMPDIR=str(home),
        PATH=f"{BIN}:/usr/bin:/bin",
    )
    return env


def pids_of(net: Network, hosts: list[str]) -> list[int]:
    found: list[int] = []
    for name in hosts:
        listed = subprocess.run(
            ["ip", "netns", "pids", net.hosts[name].netns], capture_output=True, text=True
        ).stdout.split()
        found += [int(pid) for pid in listed]
    return found


def measure(
    net: Network, replicas: list[str], work: Path, registry: str, args: argparse.Namespace
) -> dict[str, Any]:
    pods: list[Process] = []
    haproxy: HAProxy | None = None
    try:
        for name in replicas:
            home = work / f"{name}-home-{len(replicas)}"
            home.mkdir()
            env = replica_env(registry, f"ws-warmserve-api-{name}", home)
            argv = [str(BIN / "warmserve"), "serve"]
            pods.append(Process(net.hosts[name], argv, env, work / f"{name}-{len(replicas)}.log"))
        for name, pod in zip(replicas, pods, strict=True):
            url = f"http://{net.hosts[name].address}:8000/health/ready"

            def ready(pod: Process = pod, url: str = url) -> bool:
                assert pod.proc.poll() is None, pod.log()[-2000:]
                return httpx.get(url, timeout=2).status_code == 200

            wait_until(ready, 120, interval=0.2, what=f"{name} ready")
        haproxy = HAProxy(
            work, {n: f"{net.hosts[n].address}:8000" for n in replicas}, "/health/ready", 2.0
        )
        wait_until(lambda: haproxy.up() == set(replicas), 30, what="haproxy sees all")
        body = work / "body.json"
        body.write_text(json.dumps({"dataframe_records": [ROW]}))
        target = f"{haproxy.url}/invocations"
        loadgen.run_wrk(target, args.connections, args.warmup, body)
        watched = [*pids_of(net, replicas), haproxy.proc.pid]
        before = procfs.cpu_snapshot(watched)
        result = loadgen.run_wrk(target, args.connections, args.seconds, body)
        after = procfs.cpu_snapshot(watched)
        cpu = sum(after[pid] - before.get(pid, 0.0) for pid in after)
        return {
            "replicas": len(replicas),
            **result.to_dict(),
            "server_cpu_seconds": round(cpu, 2),
            "cpu_ms_per_request": round(1000 * cpu / max(1, result.requests), 3),
        }
    finally:
        for pod in pods:
            pod.stop(timeout=30)
        if haproxy is not None:
            haproxy.stop()


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| replicas | requests/s | p50 / p99 (ms) | failed | server CPU per request (ms) "
        "| wrk CPU (s) |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        failed = row["non_2xx"] + sum(row["socket_errors"].values())
        lines.append(
            f"| {row['replicas']} | {row['rps']:.0f} | {row['p50_ms']:.1f} / {row['p99_ms']:.1f} "
            f"| {failed} / {row['requests']} | {row['cpu_ms_per_request']:.2f} "
            f"| {row['wrk_cpu_seconds']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=20, help="measured wrk run per count")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--max-replicas", type=int, default=3)
    args = parser.parse_args()
    why = why_unavailable()
    if why:
        sys.exit(f"scale_out: {why}")
    work = Path(tempfile.mkdtemp(prefix="ws-scale-out-"))
    registry = f"sqlite:///{work / 'mlflow.db'}"
    env = {**os.environ, "WARMSERVE_HOME": str(work), "WARMSERVE_TRACKING_URI": registry}
    subprocess.run(
        [str(BIN / "warmserve"), "train", "--dataset", "iris", "--name", MODEL,
         "--promote", "production"],
        env=env, cwd=work, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    names = [f"api-{i}" for i in range(1, args.max_replicas + 1)]
    rows = []
    with network(names, {}) as net:
        for count in range(1, args.max_replicas + 1):
            rows.append(measure(net, names[:count], work, registry, args))
            print(json.dumps(rows[-1]), flush=True)
    out = BENCH / "results" / f"scale-out-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    facts = procfs.machine_facts()
    out.write_text(json.dumps({"machine": facts, "args": vars(args), "rows": rows}, indent=1))
    print(f"\n{table(rows)}\n\nraw: {out}; machine: {facts}")
    subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"took {time.monotonic() - started:.0f}s")

"""End-to-end effect of the prediction cache: HTTP throughput at a 90% hit rate
vs no cache, for each backend.

    .venv/bin/python bench/cache_http.py [--hit-rate 0.9] [--seconds 10] [--repeats 3]

A LogisticRegression and a RandomForest(200 trees, depth 12) from bench/.home
(trained by bench/throughput.py if missing), served with 2 HTTP workers and
`--cache off | local | redis://` (a private redis-server on a free port); wrk
at 64 connections sends one-row requests, `--hit-rate` of them drawn from 200
bodies sent once beforehand (hits), the rest never seen before (misses).
Configurations alternate within each repeat; medians are reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "tests"))
from loadgen import run_wrk  # noqa: E402
from prepare_registry import MODELS, ensure_model  # noqa: E402

from support import Server, free_port, start_redis  # noqa: E402
from warmserve.settings import Settings  # noqa: E402

HOME = BENCH / ".home"
COLUMNS = [f"f{i}" for i in range(20)]


def bodies(count: int) -> list[str]:
    rows = [[round(((i * 31 + j * 7) % 97) / 97, 4) for j in range(20)] for i in range(count)]
    return [json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [row]}}) for row in rows]


def warm(url: str, pool: list[str]) -> None:
    """Send every pooled body once, so the pooled share of the load are hits."""
    headers = {"Content-Type": "application/json"}
    with httpx.Client(base_url=url, timeout=60) as client:
        for body in pool:
            assert client.post("/invocations", content=body, headers=headers).status_code == 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hit-rate", type=float, default=0.9)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default="lr,rf")
    args = parser.parse_args()
    settings = Settings(home=HOME, tracking_uri=None)
    for key in args.models.split(","):
        ensure_model(settings, MODELS[key])
    work = Path(tempfile.mkdtemp(prefix="cache-http-"))
    pool = bodies(200)
    pool_file = work / "pool.jsonl"
    pool_file.write_text("\n".join(pool) + "\n")
    body_file = work / "body.json"
    body_file.write_text(pool[0])
    port = free_port()
    redis_proc = start_redis(port, work)
    redis_url = f"redis://127.0.0.1:{port}/0"
    env = {"WRK_POOL_FILE": str(pool_file), "WRK_HIT_RATE": str(args.hit_rate)}
    rows = []
    try:
        for model in args.models.split(","):
            results: dict[str, list] = {"off": [], "local": [], "redis": []}
            for _ in range(args.repeats):
                for cache in results:
                    setting = redis_url if cache == "redis" else cache
                    # a Redis cache is signed (required since the numbers in docs/cache.md)
                    secret = {"WARMSERVE_CACHE_SECRET": "bench"} if cache == "redis" else None
                    server = Server(HOME, "--model", f"models:/bench-{model}@production",
                                    "--workers", "2", "--cache", setting, env=secret)  # fmt: skip
                    try:
                        server.wait_ready()
                        warm(server.url, pool)
                        url = f"{server.url}/invocations"
                        results[cache].append(run_wrk(url, 64, args.seconds, body_file, env))
                    finally:
                        server.stop()
            for cache, runs in results.items():
                rows.append((model, cache, runs))
    finally:
        redis_proc.kill()
    print(f"| model | cache | req/s at {args.hit_rate:.0%} hits (median) | p50 ms | p99 ms "
          "| non-2xx |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|")
    for model, cache, runs in rows:
        print(
            f"| {model} | {cache} | {statistics.median(r.rps for r in runs):,.0f} "
            f"| {statistics.median(r.p50_ms for r in runs):.1f} "
            f"| {statistics.median(r.p99_ms for r in runs):.1f} "
            f"| {sum(r.non_2xx for r in runs)} |"
        )


if __name__ == "__main__":
    main()

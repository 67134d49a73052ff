"""The cost of handing a call to the predict thread and back, per call.

    .venv/bin/python bench/handoff.py [--calls 20000] [--repeats 5]

Compares ``loop.run_in_executor`` on a one-thread pool with warmserve's Lane
(runtime/lane.py), interleaved in one run, under uvloop as in the model process.
Prints the median microseconds per round trip of each over the repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import uvloop

from warmserve.runtime.lane import Lane


def work(x: int) -> int:
    return x + 1


async def per_call(call: Callable[[], Awaitable[int]], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        await call()
    return (time.perf_counter() - started) / calls * 1e6


async def main(calls: int, repeats: int) -> None:
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(1)
    lane = Lane("bench")
    found: dict[str, list[float]] = {"run_in_executor": [], "lane": []}
    for _ in range(repeats):
        found["run_in_executor"].append(
            await per_call(lambda: loop.run_in_executor(executor, work, 1), calls)
        )
        found["lane"].append(await per_call(lambda: lane.submit(work, 1), calls))
    for name, values in found.items():
        print(f"{name:16s} {statistics.median(values):6.1f} µs per call (median of {repeats})")
    lane.close()
    executor.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    uvloop.run(main(args.calls, args.repeats))

"""Prediction cache latency and throughput, per backend, in one process and from four.

    .venv/bin/python bench/cache_bench.py               # warmserve's local and redis caches
    .venv/bin/python bench/cache_bench.py --candidates  # the stores the local one was chosen from

Each number is the median of ``--repeats`` (3) runs. Latency: p50/p99 of single
awaited calls (put of new keys, get that hits, get that misses). Throughput: a
90% get (hits) / 10% put mix, run flat out for ``--seconds`` by one process, then
by four spawned processes at once (all sharing one store); ops/s is the total.
Redis is the one on ``--redis`` (DB 15 by default, keys under a random prefix,
removed afterwards). ``--candidates`` needs ``pip install diskcache`` for that row.
The machine's cores are shared with whatever else runs: compare rows of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import importlib.metadata
import mmap
import multiprocessing
import os
import platform
import shutil
import statistics
import struct
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from warmserve.cache import CachedPrediction, cache_key
from warmserve.cache.local import LocalCache
from warmserve.cache.redis_cache import RedisCache

PROCESSES = 4
KEYS = 1000  # distinct keys each process reads and writes


def body_of(size: int) -> bytes:
    """A JSON list of floats of about ``size`` bytes, like a small batch of predictions."""
    return b"[" + b",".join([b"0.123456"] * max(1, size // 9)) + b"]"


def key_of(worker: int, i: int, salt: str = "") -> bytes:
    return cache_key("bench", "1", "split", {"w": worker, "i": i, "s": salt}, None)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# --- backends under test: one synchronous get/put face -------------------------------


class Store(Protocol):
    """Every store is awaited, as an HTTP worker would (synchronous ones are wrapped)."""

    async def get(self, key: bytes) -> Any: ...
    async def put(self, key: bytes, value: bytes) -> None: ...
    async def close(self) -> None: ...


class SyncStore(Protocol):
    def get(self, key: bytes) -> Any: ...
    def put(self, key: bytes, value: bytes) -> None: ...
    def close(self) -> None: ...


class Awaited:
    """A synchronous candidate behind the same coroutine call the worker would make."""

    def __init__(self, store: SyncStore) -> None:
        self.store = store

    async def get(self, key: bytes) -> Any:
        return self.store.get(key)

    async def put(self, key: bytes, value: bytes) -> None:
        self.store.put(key, value)

    async def close(self) -> None:
        self.store.close()


class WarmserveStore:
    """A warmserve PredictionCache; values are wrapped in CachedPrediction."""

    def __init__(self, kind: str, where: str, max_bytes: int) -> None:
        if kind == "local":
            self.cache: LocalCache | RedisCache = LocalCache(Path(where), max_bytes=max_bytes)
        else:
            url, prefix = where.split("|")
            self.cache = RedisCache(url, prefix=prefix)

    async def get(self, key: bytes) -> Any:
        return await self.cache.get(key, "1")

    async def put(self, key: bytes, value: bytes) -> None:
        await self.cache.put(key, CachedPrediction(value, "1"))

    async def close(self) -> None:
        await self.cache.close()


class RawLmdb:
    """LMDB as a plain key-value map: the floor under the local backend's bookkeeping."""

    def __init__(self, where: str, max_bytes: int) -> None:
        import lmdb

        self.env = lmdb.open(where, map_size=max_bytes, sync=False, metasync=False)

    def get(self, key: bytes) -> Any:
        with self.env.begin() as txn:
            return txn.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        with self.env.begin(write=True) as txn:
            txn.put(key, value)

    def close(self) -> None:
        self.env.close()


class DiskCache:
    """diskcache: SQLite (WAL) with its own size limit and eviction."""

    def __init__(self, where: str, max_bytes: int) -> None:
        import diskcache

        self.cache = diskcache.Cache(where, size_limit=max_bytes)

    def get(self, key: bytes) -> Any:
        return self.cache.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self.cache.set(key, value)

    def close(self) -> None:
        self.cache.close()


class ShmTable:
    """Our own table: fixed 1 KiB slots in a /dev/shm file, direct-mapped by key,
    a byte-range lock (fcntl) per stripe of slots. Values over a slot are not
    stored; a colliding key overwrites (that is its eviction)."""

    SLOT, STRIPES, HEADER = 1024, 256, struct.Struct("<32sI")

    def __init__(self, where: str, max_bytes: int) -> None:
        self.slots = max_bytes // self.SLOT
        self.fd = os.open(where, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(self.fd).st_size < self.slots * self.SLOT:
            os.ftruncate(self.fd, self.slots * self.SLOT)
        self.map = mmap.mmap(self.fd, self.slots * self.SLOT)

    def _slot(self, key: bytes) -> tuple[int, int]:
        slot = int.from_bytes(key[:8], "little") % self.slots
        return slot * self.SLOT, slot % self.STRIPES

    def get(self, key: bytes) -> Any:
        offset, stripe = self._slot(key)
        fcntl.lockf(self.fd, fcntl.LOCK_SH, 1, stripe)
        try:
            stored, length = self.HEADER.unpack_from(self.map, offset)
            if stored != key:
                return None
            start = offset + self.HEADER.size
            return self.map[start : start + length]
        finally:
            fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, stripe)

    def put(self, key: bytes, value: bytes) -> None:
        if len(value) > self.SLOT - self.HEADER.size:
            return
        offset, stripe = self._slot(key)
        fcntl.lockf(self.fd, fcntl.LOCK_EX, 1, stripe)
        try:
            self.HEADER.pack_into(self.map, offset, key, len(value))
            start = offset + self.HEADER.size
            self.map[start : start + len(value)] = value
        finally:
            fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, stripe)

    def close(self) -> None:
        self.map.close()
        os.close(self.fd)


FACTORIES: dict[str, Callable[[str, int], Store]] = {
    "local": lambda where, size: WarmserveStore("local", where, size),
    "redis": lambda where, size: WarmserveStore("redis", where, size),
    "lmdb-raw": lambda where, size: Awaited(RawLmdb(where, size)),
    "diskcache": lambda where, size: Awaited(DiskCache(where, size)),
    "shm-table": lambda where, size: Awaited(ShmTable(where, size)),
}


# --- measurements ---------------------------------------------------------------------


def latency(kind: str, where: str, size: int, body: bytes, ops: int) -> dict[str, float]:
    return asyncio.run(_latency(kind, where, size, body, ops))


async def _latency(kind: str, where: str, size: int, body: bytes, ops: int) -> dict[str, float]:
    """p50/p99 in microseconds of put (new keys), get hit and get miss."""
    store = FACTORIES[kind](where, size)
    salt = uuid.uuid4().hex
    keys = [key_of(-1, i, salt) for i in range(ops)]
    clock = time.perf_counter_ns
    timings: dict[str, list[float]] = {"put": [], "hit": [], "miss": []}
    for k in keys:
        start = clock()
        await store.put(k, body)
        timings["put"].append(clock() - start)
    for k in keys:
        start = clock()
        found = await store.get(k)
        timings["hit"].append(clock() - start)
        # the slot table loses colliding keys by design; the others must keep all
        assert found is not None or kind == "shm-table", f"{kind}: a fresh entry is gone"
    for i in range(ops):
        k = key_of(-2, i, salt)
        start = clock()
        await store.get(k)
        timings["miss"].append(clock() - start)
    await store.close()
    result = {}
    for name, values in timings.items():
        result[f"{name} p50"] = percentile(values, 0.5) / 1000
        result[f"{name} p99"] = percentile(values, 0.99) / 1000
    return result


def churn(
    kind: str, where: str, size: int, body: bytes, worker: int, start_at: float, seconds: float
) -> int:
    return asyncio.run(_churn(kind, where, size, body, worker, start_at, seconds))


async def _churn(
    kind: str, where: str, size: int, body: bytes, worker: int, start_at: float, seconds: float
) -> int:
    """Run the 90/10 get/put mix until ``seconds`` after ``start_at``; return op count."""
    store = FACTORIES[kind](where, size)
    keys = [key_of(worker, i) for i in range(KEYS)]
    for k in keys:
        await store.put(k, body)
    while time.time() < start_at:
        time.sleep(0.001)
    deadline = time.perf_counter() + seconds
    done, i = 0, worker
    while time.perf_counter() < deadline:
        for _ in range(100):
            i = (i + 7919) % KEYS
            if i % 10 == 0:
                await store.put(keys[i], body)
            else:
                await store.get(keys[i])
        done += 100
    await store.close()
    return done


def throughput(
    pool: ProcessPoolExecutor,
    kind: str,
    where: str,
    size: int,
    body: bytes,
    processes: int,
    seconds: float,
) -> float:
    start_at = time.time() + 0.5  # every process opened its store and warmed its keys
    futures = [
        pool.submit(churn, kind, where, size, body, worker, start_at, seconds)
        for worker in range(processes)
    ]
    return sum(f.result() for f in futures) / seconds


# --- driver -----------------------------------------------------------------------------


def place(kind: str, root: Path, redis_url: str, prefix: str) -> str:
    if kind == "redis":
        return f"{redis_url}|{prefix}"
    if kind == "shm-table":
        return f"/dev/shm/warmserve-bench-{uuid.uuid4().hex}"
    if kind.endswith("@shm"):
        return tempfile.mkdtemp(prefix="warmserve-bench-", dir="/dev/shm")
    return str(root / f"{kind}-{uuid.uuid4().hex}")


def cleanup_redis(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    for name in client.scan_iter(match=prefix + "*", count=1000):
        client.delete(name)
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", action="store_true", help="compare candidate stores")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--body-bytes", type=int, default=256)
    parser.add_argument("--ops", type=int, default=2000, help="calls per latency series")
    parser.add_argument("--seconds", type=float, default=0.5, help="length of a throughput run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-bytes", type=int, default=64 * 1024 * 1024)
    args = parser.parse_args()

    if args.candidates:
        kinds = ["local", "local@shm", "lmdb-raw", "shm-table", "diskcache"]
        try:
            import diskcache  # noqa: F401
        except ImportError:
            kinds.remove("diskcache")
            print("diskcache not installed: its row is left out (pip install diskcache)")
    else:
        kinds = ["local", "redis"]
    body = body_of(args.body_bytes)
    prefix = f"warmserve-bench:{uuid.uuid4().hex}:"
    root = Path(tempfile.mkdtemp(prefix="warmserve-bench-"))
    rows: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    started = time.monotonic()
    on_shm: list[str] = []  # outside root: removed whatever happens
    try:
        with ProcessPoolExecutor(
            PROCESSES, mp_context=multiprocessing.get_context("spawn")
        ) as pool:
            for _ in range(args.repeats):
                for kind in kinds:
                    backend = kind.removesuffix("@shm")
                    where = place(kind, root, args.redis, prefix)
                    if where.startswith("/dev/shm/"):
                        on_shm.append(where)
                    row = latency(backend, where, args.max_bytes, body, args.ops)
                    row["ops/s 1 proc"] = throughput(
                        pool, backend, where, args.max_bytes, body, 1, args.seconds
                    )
                    row[f"ops/s {PROCESSES} procs"] = throughput(
                        pool, backend, where, args.max_bytes, body, PROCESSES, args.seconds
                    )
                    rows[kind].append(row)
    finally:
        shutil.rmtree(root, ignore_errors=True)
        for path in on_shm:
            shutil.rmtree(path, ignore_errors=True)
            Path(path).unlink(missing_ok=True)
        if "redis" in kinds:
            cleanup_redis(args.redis, prefix)
    elapsed = time.monotonic() - started
    print(report(rows, args, len(body), elapsed))


LABELS = {
    "local": "warmserve local (LMDB, runtime dir on disk-backed /tmp)",
    "local@shm": "warmserve local (LMDB, on /dev/shm tmpfs)",
    "redis": "warmserve redis (127.0.0.1, same machine)",
    "lmdb-raw": "LMDB, plain put/get (no entry format, no eviction)",
    "shm-table": "own /dev/shm slot table, fcntl stripe locks",
    "diskcache": "diskcache (SQLite WAL)",
}


def report(
    rows: dict[str, list[dict[str, float]]], args: argparse.Namespace, body: int, elapsed: float
) -> str:
    columns = list(next(iter(rows.values()))[0])
    lines = [
        f"Body {body} bytes; latency in µs over {args.ops} calls; throughput: 90% get / 10% put, "
        f"{args.seconds:g} s per run; median of {args.repeats} repeats; "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"lmdb {importlib.metadata.version('lmdb')}, "
        f"redis-py {importlib.metadata.version('redis')}; "
        f"took {elapsed:.0f} s.",
        "",
        "| store | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for kind, runs in rows.items():
        cells = []
        for column in columns:
            value = statistics.median(run[column] for run in runs)
            cells.append(f"{value:,.0f}" if column.startswith("ops/s") else f"{value:.1f}")
        lines.append(f"| {LABELS.get(kind, kind)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

"""Prediction cache: keys, entry validation, the shared local store and real Redis.

Real components only: LMDB files shared by spawned processes, the machine's Redis
(DB 15, a random key prefix, cleaned up) and a redis-server of our own that we
kill -9 and restart. Waits poll with a deadline; no timing is asserted.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import pickle
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis

from support import REDIS_URL, free_port, start_redis
from warmserve.cache import CachedPrediction, cache_key, make_cache
from warmserve.cache.entry import EntryCodec, InvalidEntry
from warmserve.cache.local import LocalCache
from warmserve.cache.redis_cache import RedisCache
from warmserve.cache.store import LmdbStore
from warmserve.settings import Settings

T = TypeVar("T")
MiB = 1024 * 1024
SPAWN = multiprocessing.get_context("spawn")
STORE_BYTES = 4 * MiB


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


def key(i: Any, version: str = "1") -> bytes:
    return cache_key("churn", version, "split", {"columns": ["x"], "data": [[i]]}, None)


def prediction(size: int = 16, version: str = "1") -> CachedPrediction:
    """A JSON list body of about ``size`` bytes."""
    return CachedPrediction(b"[" + b",".join([b"0"] * max(1, size // 2)) + b"]", version)


async def poll(predicate: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


class Exploit:
    """Unpickling this creates ``marker``: proof that a payload ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def exploit_payload(marker: Path, tmp_path: Path) -> bytes:
    payload = pickle.dumps(Exploit(marker))
    probe = tmp_path / "probe"  # the same kind of payload really runs code when unpickled
    pickle.loads(pickle.dumps(Exploit(probe)))
    assert probe.exists()
    return payload


# --- keys ---------------------------------------------------------------------------


def test_key_is_canonical_and_stable_across_processes() -> None:
    a = cache_key("m", "3", "records", [{"a": 1, "b": [1, 2]}], {"p": 1, "q": "x"})
    b = cache_key("m", "3", "records", [{"b": [1, 2], "a": 1}], {"q": "x", "p": 1})
    assert a == b and len(a) == 32
    code = (
        "from warmserve.cache import cache_key; import sys; sys.stdout.write(cache_key("
        "'m', '3', 'records', [{'b': [1, 2], 'a': 1}], {'q': 'x', 'p': 1}).hex())"
    )
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout == a.hex()


def test_key_is_type_version_params_and_model_sensitive() -> None:
    base = cache_key("m", "1", "instances", [1], None)
    variants = [
        cache_key("m", "1", "instances", [1.0], None),
        cache_key("m", "1", "instances", ["1"], None),
        cache_key("m", "1", "instances", [True], None),
        cache_key("m", "1", "instances", [None], None),
        cache_key("m", "2", "instances", [1], None),
        cache_key("m", "1", "instances", [1], {}),
        cache_key("m", "1", "instances", [1], {"threshold": 0.5}),
        cache_key("m", "1", "inputs", [1], None),
        cache_key("other", "1", "instances", [1], None),
        cache_key(None, "1", "instances", [1], None),
    ]
    assert len({base, *variants}) == len(variants) + 1
    assert cache_key("m", "1", "instances", [1], {"t": 0.5}) != cache_key(
        "m", "1", "instances", [1], {"t": 0.6}
    )


def test_key_accepts_values_orjson_cannot_write() -> None:
    big = cache_key("m", "1", "instances", [2**70], None)
    assert big != cache_key("m", "1", "instances", [2**70 + 1], None)
    assert big == cache_key("m", "1", "instances", [2**70], None)


# --- entry format -------------------------------------------------------------------


def test_entry_round_trip_and_validation() -> None:
    k = key(1)
    value = CachedPrediction(b'[{"label": "yes"}]', "v7")
    plain, signed = EntryCodec(), EntryCodec(b"secret")
    assert plain.decode(k, plain.encode(k, value, 12.5), "v7") == (value, 12.5)
    assert signed.decode(k, signed.encode(k, value), "v7") == (value, 0.0)
    blob = signed.encode(k, value)
    bad = [
        (b"", "truncated"),
        (b"garbage that is long enough", "bad magic"),
        (blob[:-3] + b"xx]", "bad signature"),  # well-formed, body changed
        (plain.encode(k, value), "unsigned"),
    ]
    for raw, reason in bad:
        with pytest.raises(InvalidEntry) as caught:
            signed.decode(k, raw, "v7")
        assert caught.value.reason == reason
    with pytest.raises(InvalidEntry, match="bad signature"):
        signed.decode(key(2), blob, "v7")  # a valid entry moved under another key
    with pytest.raises(InvalidEntry, match="body is not JSON"):
        plain.decode(k, plain.encode(k, CachedPrediction(b"[1,", "v7")), "v7")
    for codec in (plain, signed):  # an entry of another version than the key's
        with pytest.raises(InvalidEntry, match="version mismatch"):
            codec.decode(k, codec.encode(k, value), "v8")
    with pytest.raises(InvalidEntry, match="version mismatch"):
        raw = plain.encode(k, CachedPrediction(b"[1]", "ab"))
        plain.decode(k, raw.replace(b"ab[1]", b"\xff\xfe[1]"), "ab")


# --- local backend ------------------------------------------------------------------


def _local(directory: str, **kwargs: Any) -> LocalCache:
    return LocalCache(Path(directory), max_bytes=kwargs.pop("max_bytes", 4 * MiB), **kwargs)


def _child_put(directory: str, i: int, body: bytes) -> None:
    async def main() -> None:
        cache = _local(directory)
        await cache.put(key(i), CachedPrediction(body, "7"))
        await cache.close()

    run(main())


def _child_get(directory: str, i: int, version: str) -> tuple[bytes, str] | None:
    async def main() -> CachedPrediction | None:
        cache = _local(directory)
        try:
            return await cache.get(key(i), version)
        finally:
            await cache.close()

    found = run(main())
    return None if found is None else (found.body, found.version)


def _child_churn(directory: str, worker: int, rounds: int) -> dict[str, int]:
    """Write own keys and read everybody's in a small store, as a worker would."""

    async def main() -> dict[str, int]:
        cache = _local(directory, max_bytes=STORE_BYTES)
        for i in range(rounds):
            await cache.put(key((worker, i)), prediction(1000 + 80 * (i % 50)))
            for other in range(4):
                found = await cache.get(key((other, i)), "1")
                assert found is None or found.version == "1"
        stats = cache.stats()
        await cache.close()
        return {
            "errors": stats.errors,
            "rejected": stats.rejected,
            "hits": stats.hits,
            "stored": stats.puts + stats.dropped,
        }

    return run(main())


def test_local_entry_put_in_one_process_is_a_hit_in_another(tmp_path: Path) -> None:
    directory = str(tmp_path / "store")
    with ProcessPoolExecutor(1, mp_context=SPAWN) as pool:
        pool.submit(_child_put, directory, 1, b"[0.25]").result(timeout=120)

    async def here() -> None:
        cache = _local(directory)
        assert await cache.get(key(1), "7") == CachedPrediction(b"[0.25]", "7")
        await cache.put(key(2), CachedPrediction(b'{"a": 1}', "8"))
        await cache.close()

    run(here())
    with ProcessPoolExecutor(1, mp_context=SPAWN) as pool:
        found = pool.submit(_child_get, directory, 2, "8").result(timeout=120)
        assert found == (b'{"a": 1}', "8")
        assert pool.submit(_child_get, directory, 3, "8").result(timeout=120) is None


def test_local_concurrent_processes_share_a_bounded_store(tmp_path: Path) -> None:
    directory = str(tmp_path / "store")
    with ProcessPoolExecutor(4, mp_context=SPAWN) as pool:
        futures = [pool.submit(_child_churn, directory, worker, 600) for worker in range(4)]
        results = [future.result(timeout=240) for future in futures]
    assert all(r["errors"] == 0 and r["rejected"] == 0 for r in results), results
    assert all(r["stored"] == 600 for r in results), results
    assert sum(r["hits"] for r in results) > 0
    assert (tmp_path / "store" / "data.mdb").stat().st_size <= STORE_BYTES


def _child_die_in_transaction(directory: str, write: bool) -> None:
    """Die inside a transaction, as a worker killed mid-call would."""
    store = LmdbStore(Path(directory), STORE_BYTES)
    txn = store._env.begin(write=write)  # a read pins pages freed after it; a write, the lock
    txn.get(key(0))
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize("write", [False, True], ids=["reader", "writer"])
def test_local_survives_a_process_killed_inside_a_transaction(tmp_path: Path, write: bool) -> None:
    """A dead writer's lock is freed (robust mutex); a dead reader's slot is cleared
    when the map fills. Either way three store sizes of writes go through."""
    directory = str(tmp_path / "store")

    async def scenario() -> None:
        cache = _local(directory, max_bytes=STORE_BYTES)
        await cache.put(key(0), prediction())
        child = SPAWN.Process(target=_child_die_in_transaction, args=(directory, write))
        child.start()
        child.join()
        assert child.exitcode == -signal.SIGKILL
        for i in range(1, 3 * STORE_BYTES // 3000):
            await cache.put(key(i), prediction(3000))
        stats = cache.stats()
        assert stats.errors == 0 and stats.dropped <= 1, stats
        assert await cache.get(key(i), "1") is not None
        await cache.close()

    run(scenario())
    assert (tmp_path / "store" / "data.mdb").stat().st_size <= STORE_BYTES


def test_local_store_stays_under_its_bound(tmp_path: Path) -> None:
    async def scenario() -> None:
        cache = _local(str(tmp_path / "store"), max_bytes=MiB)
        sizes = [64, 900, 2500, 9000, 30000]
        for i in range(3000):
            await cache.put(key(i), prediction(sizes[i % len(sizes)]))
            if i % 500 == 0:
                assert (cache.stats().size_bytes or 0) <= MiB
        stats = cache.stats()
        assert stats.errors == 0 and stats.puts == 3000
        assert stats.evictions > 2000 and stats.entries is not None and stats.entries < 1000
        assert stats.size_bytes is not None and stats.size_bytes <= MiB
        assert await cache.get(key(2999), "1") is not None  # newest kept
        assert await cache.get(key(0), "1") is None  # oldest evicted (FIFO)
        # a value too big for the store is skipped, not an error
        await cache.put(key("huge"), prediction(MiB // 8))
        assert await cache.get(key("huge"), "1") is None
        assert cache.stats().errors == 0 and cache.stats().dropped == 1
        await cache.close()

    run(scenario())
    data = tmp_path / "store" / "data.mdb"
    assert data.stat().st_size <= MiB
    assert data.stat().st_blocks * 512 <= MiB


def test_local_ttl_expires_entries(tmp_path: Path) -> None:
    async def scenario() -> None:
        now = [1000.0]
        cache = _local(str(tmp_path / "fake"), ttl=10, clock=lambda: now[0])
        await cache.put(key(1), prediction())
        assert await cache.get(key(1), "1") is not None
        now[0] += 11
        assert await cache.get(key(1), "1") is None
        await cache.put(key(2), prediction())  # a put purges expired entries
        assert cache.stats().entries == 1 and cache.stats().evictions == 1
        await cache.close()

        real = _local(str(tmp_path / "real"), ttl=0.2)
        await real.put(key(1), prediction())

        async def expired() -> bool:
            return await real.get(key(1), "1") is None

        await poll(expired, 10, "the entry to expire")
        await real.close()

    run(scenario())


def test_local_rejects_corrupted_entries(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = exploit_payload(marker, tmp_path)

    async def scenario() -> None:
        cache = _local(str(tmp_path / "store"))
        store = cache._store  # writes as a foreign process or a bug could
        now = time.time()
        store.put(key(1), b"garbage", 0.0, now)
        store.put(key(2), payload, 0.0, now)
        store.put(key(3), EntryCodec().encode(key(3), CachedPrediction(b"[1,", "1")), 0.0, now)
        await cache.put(key(4), prediction())
        with store._env.begin(write=True) as txn:  # damage the record itself
            raw_seq = txn.get(key(4), db=store._index)
            assert raw_seq is not None
            seq = struct.unpack(">Q", raw_seq)[0]
            txn.put(struct.pack(">QI", seq, 0), b"\x01\x02", db=store._log)
        for i in (1, 2, 3, 4):
            assert await cache.get(key(i), "1") is None
            assert store.get(key(i)) is None  # deleted
        assert cache.stats().rejected == 4 and cache.stats().errors == 0
        await cache.close()

    run(scenario())
    assert not marker.exists()


def test_local_hmac_rejects_entries_signed_with_another_secret(tmp_path: Path) -> None:
    async def scenario() -> None:
        writer = _local(str(tmp_path / "store"), secret=b"one")
        reader = _local(str(tmp_path / "store"), secret=b"two")
        await writer.put(key(1), prediction())
        assert await writer.get(key(1), "1") is not None
        assert await reader.get(key(1), "1") is None
        assert reader.stats().rejected == 1
        await writer.close()
        await reader.close()
        assert await reader.get(key(1), "1") is None  # closed: a miss, not an error
        await reader.put(key(1), prediction())

    run(scenario())


# --- redis backend ------------------------------------------------------------------


def test_redis_hit_across_instances_and_ttl(redis_prefix: str) -> None:
    async def scenario() -> None:
        one = RedisCache(REDIS_URL, prefix=redis_prefix, ttl=30)
        two = RedisCache(REDIS_URL, prefix=redis_prefix, ttl=30)
        value = CachedPrediction(b'[{"p": 0.9}]', "12")
        await one.put(key(1), value)
        assert await two.get(key(1), "12") == value
        assert await two.get(key(2), "12") is None
        assert (two.stats().hits, two.stats().misses, one.stats().puts) == (1, 1, 1)
        plain = redis.Redis.from_url(REDIS_URL)
        assert 0 < plain.ttl(one.redis_key(key(1))) <= 30
        plain.close()
        await one.close()
        await two.close()

    run(scenario())


def test_redis_rejects_tampered_entries_without_running_them(
    redis_prefix: str, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    payload = exploit_payload(marker, tmp_path)
    plain = redis.Redis.from_url(REDIS_URL)

    async def scenario() -> None:
        cache = RedisCache(REDIS_URL, prefix=redis_prefix)
        plain.set(cache.redis_key(key(1)), b"\x00garbage")
        plain.set(cache.redis_key(key(2)), payload)
        assert await cache.get(key(1), "1") is None
        assert await cache.get(key(2), "1") is None
        assert cache.stats().rejected == 2
        assert plain.exists(cache.redis_key(key(1)), cache.redis_key(key(2))) == 0
        await cache.close()

        signed = RedisCache(REDIS_URL, prefix=redis_prefix, secret=b"s3cret")
        await signed.put(key(3), CachedPrediction(b"[1]", "4"))
        name = signed.redis_key(key(3))
        raw = plain.get(name)
        assert isinstance(raw, bytes) and raw.endswith(b"[1]")
        plain.set(name, raw[:-3] + b"[2]")  # well-formed, still JSON, different answer
        assert await signed.get(key(3), "4") is None
        assert signed.stats().rejected == 1
        await signed.put(key(4), CachedPrediction(b"[1]", "4"))
        other = RedisCache(REDIS_URL, prefix=redis_prefix, secret=b"another")
        assert await other.get(key(4), "4") is None
        await signed.close()
        await other.close()

    run(scenario())
    plain.close()
    assert not marker.exists()


def test_redis_outage_degrades_to_no_cache_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    proc = start_redis(port, tmp_path)
    caplog.set_level(logging.WARNING, logger="warmserve.cache")

    async def scenario() -> subprocess.Popen[bytes]:
        cache = RedisCache(f"redis://127.0.0.1:{port}/0", retry_after=0.2)
        value = prediction()
        await cache.put(key(1), value)
        assert await cache.get(key(1), "1") == value

        proc.kill()  # kill -9
        proc.wait()
        for _ in range(20):
            assert await cache.get(key(1), "1") is None
            await cache.put(key(2), value)  # returns without raising
        assert cache.stats().errors >= 1
        outage = [r for r in caplog.records if "unreachable" in r.getMessage()]
        assert len(outage) == 1, [r.getMessage() for r in caplog.records]

        restarted = start_redis(port, tmp_path)

        async def works() -> bool:
            await cache.put(key(3), value)
            return await cache.get(key(3), "1") == value

        await poll(works, 30, "the cache to reconnect")
        assert any("reachable again" in r.getMessage() for r in caplog.records)
        await cache.close()
        return restarted

    restarted = None
    try:
        restarted = run(scenario())
    finally:
        for p in (proc, restarted):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


# --- factory and imports ------------------------------------------------------------


def test_make_cache_builds_the_configured_backend(tmp_path: Path) -> None:
    assert make_cache(Settings(cache=None), scope=str(tmp_path)) is None
    local = make_cache(Settings(cache="local", cache_max_bytes=2 * MiB), scope=str(tmp_path))
    assert isinstance(local, LocalCache) and local.name == "local"
    assert local.directory.parent == tmp_path.resolve()
    remote = make_cache(
        Settings(cache=REDIS_URL, cache_ttl=5, cache_secret="s"), scope=str(tmp_path)
    )
    assert isinstance(remote, RedisCache) and remote.name == "redis"
    run(local.close())
    run(remote.close())


def test_cache_package_imports_no_model_libraries() -> None:
    code = (
        "import sys, warmserve.cache, warmserve.cache.local, warmserve.cache.redis_cache; "
        "print([m for m in ('pandas', 'numpy', 'mlflow', 'sklearn') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

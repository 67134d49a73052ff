"""Forged and tampered cache entries are never served, and each is counted as rejected.

Against the machine's real Redis (DB 15, a random key prefix, cleaned up) and a real
LMDB store: entries are written straight into the store, as another tenant of a
shared Redis (or anyone who can write to it) would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from support import REDIS_URL
from warmserve.cache import CachedPrediction, cache_key
from warmserve.cache.entry import EntryCodec
from warmserve.cache.local import LocalCache
from warmserve.cache.redis_cache import RedisCache

SECRET = b"replicas-share-this"
GENUINE = CachedPrediction(b"[42.0]", "1")


def key(row: int, version: str = "1") -> bytes:
    return cache_key("churn", version, "records", [{"x": row}], None)


def signed(k: bytes, value: CachedPrediction, secret: bytes = SECRET) -> bytes:
    return EntryCodec(secret).encode(k, value)


def unsigned(k: bytes, value: CachedPrediction) -> bytes:
    return EntryCodec().encode(k, value)


def flip_last_digit(raw: bytes) -> bytes:
    return raw[:-3] + b"9" + raw[-2:]  # [42.0] -> [42.9]: still JSON, another answer


# What an attacker can write under key(1), the key of version 1's answer to row 1.
FORGERIES_WITH_SECRET: dict[str, Callable[[], bytes]] = {
    "unsigned": lambda: unsigned(key(1), GENUINE),
    "signed with another secret": lambda: signed(key(1), GENUINE, b"guessed"),
    "another key's valid entry": lambda: signed(key(2), CachedPrediction(b"[7.0]", "1")),
    "claims version 999": lambda: signed(key(1), CachedPrediction(b"[999]", "999")),
    "tampered bytes": lambda: flip_last_digit(signed(key(1), GENUINE)),
    "truncated": lambda: signed(key(1), GENUINE)[:20],
}
FORGERIES_UNSIGNED: dict[str, Callable[[], bytes]] = {
    "claims version 999": lambda: unsigned(key(1), CachedPrediction(b"[999]", "999")),
    "tampered bytes": lambda: unsigned(key(1), GENUINE)[:-1] + b"x",  # body no longer JSON
    "truncated": lambda: unsigned(key(1), GENUINE)[:20],
}


def check_redis(prefix: str, secret: bytes | None, forged: bytes) -> None:
    async def scenario() -> None:
        cache = RedisCache(REDIS_URL, prefix=prefix, secret=secret)
        plain = redis.Redis.from_url(REDIS_URL)
        try:
            plain.set(cache.redis_key(key(1)), forged)
            assert await cache.get(key(1), "1") is None
            stats = cache.stats()
            assert (stats.rejected, stats.hits, stats.misses) == (1, 0, 1)
            assert not plain.exists(cache.redis_key(key(1)))  # deleted, not served later
            await cache.put(key(1), GENUINE)  # the genuine answer is still served
            assert await cache.get(key(1), "1") == GENUINE
        finally:
            plain.close()
            await cache.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("name", FORGERIES_WITH_SECRET)
def test_redis_with_secret_rejects(redis_prefix: str, name: str) -> None:
    check_redis(redis_prefix, SECRET, FORGERIES_WITH_SECRET[name]())


@pytest.mark.parametrize("name", FORGERIES_UNSIGNED)
def test_redis_unsigned_rejects(redis_prefix: str, name: str) -> None:
    check_redis(redis_prefix, None, FORGERIES_UNSIGNED[name]())


@pytest.mark.parametrize("secret", [None, SECRET])
def test_local_store_rejects_another_version(tmp_path: Path, secret: bytes | None) -> None:
    async def scenario() -> None:
        cache = LocalCache(tmp_path / "store", max_bytes=4 * 1024 * 1024, secret=secret)
        try:
            claim = CachedPrediction(b"[999]", "999")
            forged = EntryCodec(secret).encode(key(1), claim)
            cache._store.put(key(1), forged, 0.0, 0.0)  # straight into the LMDB file
            assert await cache.get(key(1), "1") is None
            assert cache.stats().rejected == 1
        finally:
            await cache.close()

    asyncio.run(scenario())

"""The ``redis`` backend: one cache shared by every replica of a deployment.

A cache must never make a prediction slower or fail it, so a sick Redis is
treated as "no cache": short socket timeouts, no client-side retries, and after
a connection failure Redis is left alone for ``retry_after`` seconds (requests go
straight to the model) before the next call tries again. One WARNING marks the
start of an outage and one the end, however many requests it spans.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from warmserve.cache.base import CachedPrediction, CacheStats, Counters, WarnOnce
from warmserve.cache.entry import EntryCodec, InvalidEntry

log = logging.getLogger("warmserve.cache")

PREFIX = "warmserve:pred:"
# Errors meaning "Redis is not reachable now" (as opposed to a refused command).
_OUTAGE_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)


def describe_url(url: str) -> str:
    """The URL without credentials, for logs."""
    parts = urlsplit(url)
    host = parts.hostname or parts.path or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path if parts.hostname else ''}"


class RedisCache:
    """Prediction cache in Redis: ``SET key value [PX ttl]`` / ``GET key``.

    Keys are ``prefix + hex(cache key)``; values use the validated entry format
    (:mod:`.entry`). Reconnection is redis-py's: a broken connection is dropped
    from the pool and the next call opens a new one.
    """

    name = "redis"

    def __init__(
        self,
        url: str,
        *,
        ttl: float | None = None,
        secret: bytes | None = None,
        prefix: str = PREFIX,
        timeout: float = 0.25,
        retry_after: float = 1.0,
    ) -> None:
        self._client = aioredis.Redis.from_url(
            url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            # redis-py retries 10 times with back-off by default: far too slow here.
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
        self._where = describe_url(url)
        self._codec = EntryCodec(secret)
        self._ttl_ms = max(1, round(ttl * 1000)) if ttl else None
        self._prefix = prefix.encode()
        self._retry_after = retry_after
        self._down_until = 0.0  # monotonic time before which Redis is not called
        self._down_since: float | None = None
        self._counters = Counters()
        self._warn = WarnOnce(log)

    def redis_key(self, key: bytes) -> bytes:
        return self._prefix + key.hex().encode()

    async def get(self, key: bytes, version: str) -> CachedPrediction | None:
        counters = self._counters
        if self._skipping():
            counters.misses += 1
            return None
        name = self.redis_key(key)
        try:
            raw = await self._client.get(name)
        except Exception as exc:
            self._failed("get", exc)
            counters.misses += 1
            return None
        self._recovered()
        if raw is None:
            counters.misses += 1
            return None
        try:
            if not isinstance(raw, bytes):  # only if someone set decode_responses
                raise InvalidEntry("not bytes")
            value, _ = self._codec.decode(key, raw, version)
        except InvalidEntry as exc:
            counters.rejected += 1
            counters.misses += 1
            self._warn(
                f"rejected:{exc.reason}",
                "redis cache entry %s rejected: %s (is the cache secret the same everywhere?)",
                name.decode(),
                exc.reason,
            )
            await self._discard(name)
            return None
        counters.hits += 1
        return value

    async def put(self, key: bytes, value: CachedPrediction) -> None:
        if self._skipping():
            self._counters.dropped += 1
            return
        try:
            blob = self._codec.encode(key, value)
            await self._client.set(self.redis_key(key), blob, px=self._ttl_ms)
        except Exception as exc:
            self._failed("put", exc)
            return
        self._recovered()
        self._counters.puts += 1

    async def close(self) -> None:
        try:
            await self._client.aclose()
        except Exception as exc:
            log.debug("closing the redis cache client failed: %r", exc)

    def stats(self) -> CacheStats:
        return self._counters.snapshot()

    # --- outage handling ------------------------------------------------------------

    def _skipping(self) -> bool:
        return self._down_until > 0 and time.monotonic() < self._down_until

    def _failed(self, operation: str, exc: Exception) -> None:
        self._counters.errors += 1
        if not isinstance(exc, _OUTAGE_ERRORS):
            kind = f"{operation}:{type(exc).__name__}"
            self._warn(kind, "redis cache %s failed: %r", operation, exc)
            return
        now = time.monotonic()
        self._down_until = now + self._retry_after
        if self._down_since is None:
            self._down_since = now
            log.warning(
                "redis cache at %s is unreachable (%s); predictions go uncached, "
                "retrying every %.1fs",
                self._where,
                exc or type(exc).__name__,
                self._retry_after,
            )

    def _recovered(self) -> None:
        if self._down_since is not None:
            log.warning(
                "redis cache at %s is reachable again after %.1fs",
                self._where,
                time.monotonic() - self._down_since,
            )
            self._down_since = None
        self._down_until = 0.0

    async def _discard(self, name: bytes) -> None:
        try:
            await self._client.delete(name)
        except Exception as exc:
            log.debug("could not delete rejected redis cache entry: %r", exc)

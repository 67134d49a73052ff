"""The ``local`` backend: one cache shared by every worker process of a server.

No server to run: the store is an LMDB memory map (see :mod:`.store`) under the
server's runtime directory, opened by each worker after it starts. Reads and
writes happen inline on the event loop; they take microseconds, less than a
thread-pool hop would cost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from warmserve.cache.base import CachedPrediction, CacheStats, Counters, WarnOnce
from warmserve.cache.entry import EntryCodec, InvalidEntry
from warmserve.cache.store import LmdbStore, StoreFull

log = logging.getLogger("warmserve.cache")


class LocalCache:
    """Bounded (``max_bytes``), optionally expiring (``ttl``) cache shared across processes.

    ``directory`` names the store: every process that opens the same directory
    shares the same entries. Evictions are counted globally, the rest per process.
    """

    name = "local"

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int,
        ttl: float | None = None,
        secret: bytes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = LmdbStore(directory, max_bytes)
        self._codec = EntryCodec(secret)
        self._ttl = ttl
        self._clock = clock  # wall clock: expiry times are shared between processes
        self._counters = Counters()
        self._warn = WarnOnce(log)
        self._closed = False

    @property
    def directory(self) -> Path:
        return self._store.path

    async def get(self, key: bytes, version: str) -> CachedPrediction | None:
        counters = self._counters
        try:
            raw = None if self._closed else self._store.get(key)
        except Exception as exc:
            counters.errors += 1
            counters.misses += 1
            self._warn("get", "local cache read failed: %r", exc)
            return None
        if raw is None:
            counters.misses += 1
            return None
        try:
            value, expires_at = self._codec.decode(key, raw, version)
        except InvalidEntry as exc:
            counters.rejected += 1
            counters.misses += 1
            self._warn(f"rejected:{exc.reason}", "local cache entry rejected: %s", exc.reason)
            self._discard(key, raw)
            return None
        if expires_at and expires_at <= self._clock():
            counters.misses += 1
            return None
        counters.hits += 1
        return value

    async def put(self, key: bytes, value: CachedPrediction) -> None:
        if self._closed:
            return
        counters = self._counters
        try:
            now = self._clock()
            expires_at = now + self._ttl if self._ttl else 0.0
            blob = self._codec.encode(key, value, expires_at)
            if len(blob) > self._store.max_value_bytes:
                counters.dropped += 1
                self._warn(
                    "too-large",
                    "a prediction of %d bytes was not cached: over 1/16 of the cache size",
                    len(blob),
                )
                return
            self._store.put(key, blob, expires_at, now)
        except StoreFull:
            counters.dropped += 1
            self._warn("full", "local cache momentarily full: a prediction was not cached")
            return
        except Exception as exc:
            counters.errors += 1
            self._warn("put", "local cache write failed: %r", exc)
            return
        counters.puts += 1

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._store.close()

    def stats(self) -> CacheStats:
        if self._closed:
            return self._counters.snapshot()
        try:
            store = self._store.stats()
        except Exception:
            return self._counters.snapshot()
        return self._counters.snapshot(store.evictions, store.entries, store.size_bytes)

    def _discard(self, key: bytes, raw: bytes) -> None:
        try:
            self._store.delete_if(key, raw)
        except Exception as exc:
            log.debug("could not delete a rejected local cache entry: %r", exc)

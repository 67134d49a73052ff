"""What every cache backend promises: the value type, the protocol and its counters.

The HTTP layer only ever sees :class:`PredictionCache`; which backend sits behind
it is decided once, by :func:`warmserve.cache.make_cache`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class CachedPrediction:
    """The JSON text of the predictions and the model version that produced it."""

    body: bytes
    version: str


@dataclass(frozen=True, slots=True)
class CacheStats:
    """A snapshot of one process's counters (``evictions`` of the local backend is global).

    ``hits + misses`` is the number of ``get`` calls. A rejected entry, an expired one
    and a failed lookup all count as misses too; ``errors`` counts failed backend
    operations (get or put), ``rejected`` entries that failed validation (including
    a signature that does not match, and a version other than the key's), and
    ``dropped`` puts skipped without trying to write (value too big, local store
    momentarily full, Redis in its back-off after a failure).
    ``entries``/``size_bytes`` describe the whole store where that is cheap to know
    (local backend), else they are ``None``.
    """

    hits: int = 0
    misses: int = 0
    puts: int = 0
    evictions: int = 0
    errors: int = 0
    rejected: int = 0
    dropped: int = 0
    entries: int | None = None
    size_bytes: int | None = None


@runtime_checkable
class PredictionCache(Protocol):
    """A prediction cache. Every method is safe to call on the request path.

    ``get`` and ``put`` never raise: a broken backend degrades to "no cache", it
    never fails a prediction.
    """

    name: str

    async def get(self, key: bytes, version: str) -> CachedPrediction | None:
        """The entry stored under ``key`` if it holds an answer of ``version``, the
        model version ``key`` was built for; anything else is a miss."""
        ...

    async def put(self, key: bytes, value: CachedPrediction) -> None: ...

    async def close(self) -> None: ...

    def stats(self) -> CacheStats: ...


@dataclass(slots=True)
class Counters:
    """This process's mutable counters; backends bump them, ``snapshot`` freezes them."""

    hits: int = 0
    misses: int = 0
    puts: int = 0
    errors: int = 0
    rejected: int = 0
    dropped: int = 0

    def snapshot(
        self, evictions: int = 0, entries: int | None = None, size_bytes: int | None = None
    ) -> CacheStats:
        return CacheStats(
            **asdict(self), evictions=evictions, entries=entries, size_bytes=size_bytes
        )


@dataclass(slots=True)
class WarnOnce:
    """Log a problem at WARNING the first time each kind occurs, at DEBUG afterwards.

    A cache problem repeats on every request; one warning per process tells the
    operator without flooding the log.
    """

    logger: logging.Logger
    seen: set[str] = field(default_factory=set)

    def __call__(self, kind: str, message: str, *args: object) -> None:
        level = logging.DEBUG if kind in self.seen else logging.WARNING
        self.seen.add(kind)
        self.logger.log(level, message, *args)

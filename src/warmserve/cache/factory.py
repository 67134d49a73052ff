"""Build the configured cache from Settings, once per process."""

from __future__ import annotations

import logging
from pathlib import Path

from warmserve.cache.base import PredictionCache
from warmserve.settings import Settings

LOCAL_DIRECTORY = "prediction-cache"

log = logging.getLogger("warmserve.cache")


def make_cache(settings: Settings, *, scope: str) -> PredictionCache | None:
    """The cache ``settings.cache`` asks for, or None when caching is off.

    ``scope`` is the server instance's runtime directory: every worker of one
    server passes the same one, so their ``local`` caches share one store, kept in
    ``<scope>/prediction-cache`` and removed with it (``cache_dir`` moves it elsewhere,
    where it is kept). Call this in each worker process after it starts (the stores
    hold memory maps and sockets that must not cross a fork), and ``await
    cache.close()`` when the worker stops. Backends are imported here, so a worker
    without a cache loads neither LMDB nor redis. A Redis cache without a secret
    exists only when ``cache_unsigned`` was chosen (Settings refuses it otherwise),
    and says so in the log.
    """
    if settings.cache is None:
        return None
    secret = settings.cache_signing_key()
    if settings.cache == "local":
        from warmserve.cache.local import LocalCache

        return LocalCache(
            settings.cache_dir or Path(scope) / LOCAL_DIRECTORY,
            max_bytes=settings.cache_max_bytes,
            ttl=settings.cache_ttl,
            secret=secret,
        )
    from warmserve.cache.redis_cache import RedisCache

    if secret is None:
        log.warning(
            "redis cache entries are not signed (WARMSERVE_CACHE_UNSIGNED=true): whoever can "
            "write to that Redis can make this server answer with forged predictions"
        )
    return RedisCache(settings.cache, ttl=settings.cache_ttl, secret=secret)

"""Build the configured cache from Settings, once per process."""

from __future__ import annotations

from pathlib import Path

from warmserve.cache.base import PredictionCache
from warmserve.settings import Settings

LOCAL_DIRECTORY = "prediction-cache"


def make_cache(settings: Settings, *, scope: str) -> PredictionCache | None:
    """The cache ``settings.cache`` asks for, or None when caching is off.

    ``scope`` is the server instance's runtime directory: every worker of one
    server passes the same one, so their ``local`` caches share one store, kept in
    ``<scope>/prediction-cache`` and removed with it. Call this in each worker
    process after it starts (the stores hold memory maps and sockets that must not
    cross a fork), and ``await cache.close()`` when the worker stops. Backends are
    imported here, so a worker without a cache loads neither LMDB nor redis.
    """
    if settings.cache is None:
        return None
    secret = settings.cache_secret.get_secret_value().encode() if settings.cache_secret else None
    if settings.cache == "local":
        from warmserve.cache.local import LocalCache

        return LocalCache(
            Path(scope) / LOCAL_DIRECTORY,
            max_bytes=settings.cache_max_bytes,
            ttl=settings.cache_ttl,
            secret=secret or None,
        )
    from warmserve.cache.redis_cache import RedisCache

    return RedisCache(settings.cache, ttl=settings.cache_ttl, secret=secret or None)

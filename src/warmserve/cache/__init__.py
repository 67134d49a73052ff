"""Prediction cache shared by the HTTP workers: a local LMDB store or Redis.

Use::

    cache = make_cache(settings, scope=runtime_dir)   # None when caching is off
    key = cache_key(model_name, version, fmt, data, params)
    hit = await cache.get(key, version)     # CachedPrediction | None, never raises
    await cache.put(key, CachedPrediction(body, version))
    await cache.close()

This package imports no pandas, numpy or mlflow: it runs in the HTTP workers.
"""

from warmserve.cache.base import CachedPrediction, CacheStats, PredictionCache
from warmserve.cache.factory import make_cache
from warmserve.cache.keys import cache_key

__all__ = ["CacheStats", "CachedPrediction", "PredictionCache", "cache_key", "make_cache"]

"""One thread per pool in the model process, applied through threadpoolctl.

The runner predicts on one thread; OpenMP pools (HistGradientBoosting, XGBoost,
LightGBM) and BLAS pools spin up one thread per core and then fight the HTTP
workers for the same two cores. See docs/compiled-trees.md for the measurement.
"""

from __future__ import annotations

from typing import Any


def limit_threads(n: int | None) -> dict[str, Any]:
    """Cap every native thread pool loaded so far at ``n`` threads (None: leave as is).

    Call it after the model's libraries are imported (after loading the model):
    threadpoolctl only sees pools whose libraries are already loaded.
    Returns what was applied, for /model.
    """
    from threadpoolctl import threadpool_info, threadpool_limits

    if n is not None:
        if n < 1:
            raise ValueError(f"a thread limit must be at least 1, got {n}")
        threadpool_limits(limits=n)
    pools = [
        {
            "api": str(info.get("user_api")),
            "library": str(info.get("internal_api")),
            "num_threads": int(info.get("num_threads", 0)),
        }
        for info in threadpool_info()
    ]
    return {"limit": n, "pools": pools}

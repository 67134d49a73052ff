"""Targets of the spawned children, importable without what they run.

The supervisor must import a spawn target to name it; importing
``runtime.runner`` there would load mlflow and pandas (~150 MB) into a process
that never uses them. These trampolines import the real entry in the child.
"""

from __future__ import annotations

import os
from typing import Any

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def model_runner(*args: Any) -> None:
    limit_native_threads(args[0].model_threads)
    from warmserve.runtime.runner import runner_main

    runner_main(*args)


def limit_native_threads(threads: int) -> None:
    """Cap OpenMP and BLAS pools before numpy or any model library loads.

    Predict runs on one thread; pools of their own (HistGradientBoosting,
    LightGBM, XGBoost, BLAS) only fight over the cores the HTTP workers need
    (docs/compiled-trees.md measures it). The environment is read once, when a
    pool starts, and applies to every thread of the process.
    """
    if threads > 0:
        for name in THREAD_VARIABLES:
            os.environ[name] = str(threads)


def http_worker(*args: Any) -> None:
    from warmserve.http.worker import worker_main

    worker_main(*args)


def preload_http_worker() -> None:
    """Import the web stack in the supervisor before forking the HTTP workers."""
    import warmserve.http.worker  # noqa: F401

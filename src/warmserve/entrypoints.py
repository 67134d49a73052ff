"""Targets of the spawned children, importable without what they run.

The supervisor must import a spawn target to name it; importing
``runtime.runner`` there would load mlflow and pandas (~150 MB) into a process
that never uses them. These trampolines import the real entry in the child.
"""

from __future__ import annotations

from typing import Any


def model_runner(*args: Any) -> None:
    from warmserve.runtime.runner import runner_main

    runner_main(*args)


def http_worker(*args: Any) -> None:
    from warmserve.http.worker import worker_main

    worker_main(*args)


def preload_http_worker() -> None:
    """Import the web stack in the supervisor before forking the HTTP workers."""
    import warmserve.http.worker  # noqa: F401

"""Logging set-up shared by every process; the role names the process in each line."""

from __future__ import annotations

import logging
import sys


def setup_logging(level: str, role: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s %(levelname)-7s [{role} %(process)d] %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # MLflow and friends are chatty at INFO; their warnings still show.
    for noisy in ("mlflow", "alembic", "httpx", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # urllib3 warns on every retry to a registry that is down; the watcher says it once.
    logging.getLogger("urllib3").setLevel(logging.ERROR)

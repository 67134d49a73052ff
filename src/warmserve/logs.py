"""Logging set-up shared by every process; the role names the process in each line.

Every line goes through :class:`RedactingFilter` on the one handler, so a secret
that reached a log call (a URL with a password inside a library's exception,
say) is hidden in every process, whichever logger wrote it.
"""

from __future__ import annotations

import logging
import sys

from warmserve.redaction import redact


class RedactingFilter(logging.Filter):
    """Redact the message, the traceback and the stack of every record (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: the formatter will report it
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def setup_logging(level: str, role: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s %(levelname)-7s [{role} %(process)d] %(name)s: %(message)s")
    )
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # MLflow and friends are chatty at INFO; their warnings still show.
    for noisy in ("mlflow", "alembic", "httpx", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # urllib3 warns on every retry to a registry that is down; the watcher says it once.
    logging.getLogger("urllib3").setLevel(logging.ERROR)

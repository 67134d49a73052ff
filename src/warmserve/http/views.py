"""The public views of the server's state, built from the typed messages.

``/model`` (and the status page) show exactly what these functions return:
internal field names never reach the API by accident, and every text that
could hold a URL passes through one redaction step.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from warmserve.protocol import LoadFailure, ModelState, Pong, ServedModel

Redact = Callable[[str], str]


def _identity(text: str) -> str:
    return text


def iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat()


def served_view(served: ServedModel, redact: Redact = _identity) -> dict[str, Any]:
    predictor = served.predictor
    return {
        "source": redact(served.source) if served.source else served.source,
        "load_uri": redact(served.load_uri) if served.load_uri else served.load_uri,
        "name": served.name,
        "version": served.version,
        "alias": served.alias,
        "run_id": served.run_id,
        "loaded_at": iso(served.loaded_at),
        "load_seconds": served.load_seconds,
        "signature": served.signature,
        "predictor": {
            "name": predictor.name,
            "detail": predictor.detail,
            "declined": predictor.declined,
        }
        if predictor is not None
        else None,
    }


def failure_view(failure: LoadFailure, redact: Redact = _identity) -> dict[str, Any]:
    return {
        "version": failure.version,
        "error": redact(failure.error),
        "time": iso(failure.at),
        "attempts": failure.attempts,
    }


def _maybe(text: str | None, redact: Redact) -> str | None:
    return redact(text) if text else text


def model_view(
    state: ModelState | None,
    pong: Pong | None,
    totals: dict[str, float],
    source: str | None,
    redact: Redact = _identity,
) -> dict[str, Any]:
    """GET /model: what is served, what the watcher knows, the runner's load, totals."""
    served = state.served if state is not None and state.status.healthy else None
    status = state.status if state is not None else None
    host = pong.hosts.get(state.model) if pong is not None and state is not None else None
    return {
        "ready": served is not None,
        "model": served_view(served, redact) if served is not None else None,
        "source": _maybe(status.source if status else source, redact),
        "last_failure": failure_view(status.last_failure, redact)
        if status is not None and status.last_failure is not None
        else None,
        "registry_error": _maybe(status.registry_error if status else None, redact),
        "source_missing": _maybe(status.source_missing if status else None, redact),
        "checks": status.checks if status else 0,
        "runner": {
            "busy_for": round(host.busy_for, 3),
            "queued": host.queued,
            "batches": host.batches,
            "healthy": host.healthy,
        }
        if host is not None
        else None,
        "totals": totals,
    }

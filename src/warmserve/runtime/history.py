"""What happened to a model host, derived from the states it publishes.

The watcher publishes a ``ModelState`` after every check and on every swap;
comparing each state with the one before tells what changed (a version swapped
in, a version kept out, the registry down or back, the source gone or back, a
loop died). Deriving events here, from the same typed state every worker
sees, keeps the watcher free of history bookkeeping and makes the rules a pure
function with unit tests. The events go to the server's event log
(``warmserve.events``), which outlives this process.
"""

from __future__ import annotations

from typing import Any

from warmserve.events import EventLog
from warmserve.protocol import ModelState, WatcherStatus

Change = tuple[str, dict[str, Any]]  # (kind, fields)


def changes(
    before: ModelState | None, after: ModelState, resumed: str | None = None
) -> list[Change]:
    """The events between two states of one host (``before`` None: this process's first).

    ``resumed``: the version a replacement model process was asked to load again, until
    it first serves; serving it then is a resume, not a swap.
    """
    found: list[Change] = []
    model = after.model
    old = before.served if before is not None else None
    new = after.served
    if new is not None and (old is None or old.version != new.version):
        if old is None and resumed is not None and new.version == resumed:
            found.append(("resumed", {"model": model, "version": new.version, "name": new.name}))
        else:
            found.append(
                (
                    "swap",
                    {
                        "model": model,
                        "version": new.version,
                        "previous": old.version if old is not None else None,
                        "name": new.name,
                        "alias": new.alias,
                        "run_id": new.run_id,
                        "load_seconds": new.load_seconds,
                    },
                )
            )
    was = before.status if before is not None else WatcherStatus()
    now = after.status
    failure = now.last_failure
    if failure is not None and failure != was.last_failure:
        found.append(
            (
                "kept_out",
                {
                    "model": model,
                    "version": failure.version,
                    "error": failure.error,
                    "attempts": failure.attempts,
                    "serving": new.version if new is not None else None,
                },
            )
        )
    if now.registry_error is not None and was.registry_error is None:
        found.append(("registry_down", {"model": model, "error": now.registry_error}))
    elif now.registry_error is None and was.registry_error is not None:
        found.append(("registry_up", {"model": model}))
    if now.source_missing is not None and was.source_missing is None:
        found.append(("source_missing", {"model": model, "error": now.source_missing}))
    elif now.source_missing is None and was.source_missing is not None:
        found.append(("source_back", {"model": model}))
    if not now.healthy and was.healthy:
        found.append(("unhealthy", {"model": model}))
    return found


class HistoryRecorder:
    """Feeds every published state through ``changes`` into the event log."""

    def __init__(self, events: EventLog, resume: dict[str, str] | None = None) -> None:
        self.events = events
        self.resume = dict(resume or {})  # model key -> version to be loaded again
        self.last: dict[str, ModelState] = {}

    def observe(self, state: ModelState) -> None:
        before = self.last.get(state.model)
        for kind, fields in changes(before, state, self.resume.get(state.model)):
            self.events.append(kind, **fields)
        self.last[state.model] = state
        if state.served is not None:
            self.resume.pop(state.model, None)

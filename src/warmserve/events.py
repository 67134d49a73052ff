"""The history of one server: a bounded JSON-lines event log in its runtime directory.

Why a file: the history must outlive the model process and the HTTP workers,
which are replaced, and every process of a server knows its runtime directory
(the directory of the runner socket). Writers (the model process's state
observer and the supervisor) append one short line per event through
``O_APPEND``, so lines of several processes never interleave; readers (the HTTP
workers) read the tail and re-read only when the files changed. JSON only:
nothing read here is ever unpickled or evaluated, and a line that is not a
well-formed event is skipped. Bounded: past ``max_bytes`` the file becomes the
one previous generation, so at most twice that is kept.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("warmserve.events")

FILE_NAME = "events.jsonl"
MAX_BYTES = 256 * 1024  # per generation; two generations are kept
MAX_TEXT = 1000  # longer texts (error messages) are cut
MAX_LINE = 4096  # a longer line is not an event of ours
LOCK_TIMEOUT = 1.0  # a writer that cannot rotate within this still appends

Scalar = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened: when (unix seconds), what kind, and its scalar fields."""

    time: float
    kind: str
    fields: dict[str, Scalar]

    def to_dict(self) -> dict[str, Any]:
        return {**self.fields, "time": self.time, "kind": self.kind}


def _clean(value: Any) -> Scalar:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    text = str(value)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def encode_line(event: Event) -> bytes:
    fields = {key: _clean(value) for key, value in event.fields.items()}
    return orjson.dumps({**fields, "time": event.time, "kind": event.kind}) + b"\n"


def parse_line(line: bytes) -> Event | None:
    """The event a line holds, or None for anything else (torn, foreign, hostile)."""
    if not line.strip() or len(line) > MAX_LINE:
        return None
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    when, kind = data.pop("time", None), data.pop("kind", None)
    if not isinstance(kind, str) or isinstance(when, bool) or not isinstance(when, int | float):
        return None
    fields = {
        str(key): value
        for key, value in data.items()
        if value is None or isinstance(value, str | int | float | bool)
    }
    return Event(float(when), kind, fields)


class EventLog:
    """Append events to, and read the tail of, ``events.jsonl`` in ``directory``."""

    def __init__(
        self,
        directory: str | Path,
        max_bytes: int = MAX_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(directory) / FILE_NAME
        self.previous = self.path.with_name(FILE_NAME + ".1")
        self.lock_path = self.path.with_name(FILE_NAME + ".lock")
        self.max_bytes = max_bytes
        self.clock = clock
        self._cache_key: tuple[Any, ...] | None = None
        self._cache: list[Event] = []

    # --- writing ----------------------------------------------------------------
    def append(self, kind: str, **fields: Any) -> None:
        """Record one event. Never raises: a history that cannot be written must not
        stop a server from serving (it is logged instead)."""
        line = encode_line(Event(self.clock(), kind, fields))
        try:
            with self._rotation_lock() as locked:
                if locked:
                    self._rotate_if_full(len(line))
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, line)
                finally:
                    os.close(fd)
        except OSError as exc:
            log.warning("cannot record a %s event in %s: %s", kind, self.path, exc)

    @contextlib.contextmanager
    def _rotation_lock(self) -> Iterator[bool]:
        """Exclusive among writers, so two cannot rotate at once; bounded wait."""
        fd = os.open(self.lock_path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + LOCK_TIMEOUT
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        yield False
                        return
                    time.sleep(0.005)
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _rotate_if_full(self, adding: int) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size + adding > self.max_bytes:
            os.replace(self.path, self.previous)

    # --- reading ----------------------------------------------------------------
    def read(self, limit: int = 500) -> list[Event]:
        """The last ``limit`` events, oldest first. Files are re-read only when they
        changed, so a page polled every few seconds costs two ``stat`` calls."""
        key = (_stat_key(self.previous), _stat_key(self.path))
        if key != self._cache_key:
            events: list[Event] = []
            for path in (self.previous, self.path):
                events.extend(_read_events(path, self.max_bytes + MAX_LINE))
            self._cache_key, self._cache = key, events
        return self._cache[-limit:] if limit > 0 else []


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _read_events(path: Path, most: int) -> list[Event]:
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size > most:  # written past its bound by someone else: keep the tail
                file.seek(size - most)
                file.readline()
            data = file.read(most)
    except OSError:
        return []
    found = (parse_line(line) for line in data.split(b"\n"))
    return [event for event in found if event is not None]

"""Which files in the inbox folder are complete enough to read.

A writer either renames a finished file into the folder (write-then-rename: names
starting with '.' or ending in .tmp/.part/... are never read) or writes in
place; then the file is taken once two scans saw the same size and modification
time and it is at least ``settle`` seconds old. A 0-byte file is a file still
being written: it waits, and only after ``empty_timeout`` seconds unchanged is it
handed over (to be rejected as empty). Pure bookkeeping over ``os.stat``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp", "~")
REASON_SUFFIX = ".reason.txt"


@dataclass(frozen=True)
class Seen:
    size: int
    mtime_ns: int


def is_candidate(name: str) -> bool:
    """False for hidden files and files a writer has not renamed into place yet."""
    return not name.startswith(".") and not name.lower().endswith(IGNORED_SUFFIXES)


class Inbox:
    def __init__(
        self,
        folder: Path,
        settle: float,
        empty_timeout: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.folder = folder
        self.settle = settle
        self.empty_timeout = empty_timeout
        self.clock = clock
        self.seen: dict[Path, Seen] = {}
        self.scans = 0

    def scan(self) -> list[Path]:
        """Files complete since the last scan, oldest first."""
        self.folder.mkdir(parents=True, exist_ok=True)
        now = self.clock()
        ready: list[tuple[int, Path]] = []
        current: dict[Path, Seen] = {}
        for path in self.folder.iterdir():
            if not is_candidate(path.name):
                continue
            try:
                stat = path.stat()
            except OSError:  # vanished between listing and stat
                continue
            if not path.is_file():
                continue
            seen = Seen(stat.st_size, stat.st_mtime_ns)
            current[path] = seen
            if self.seen.get(path) != seen:
                continue  # new or still changing: look again next scan
            age = now - stat.st_mtime_ns / 1e9
            limit = self.empty_timeout if seen.size == 0 else self.settle
            if age >= limit:
                ready.append((stat.st_mtime_ns, path))
        self.seen = current
        self.scans += 1
        return [path for _, path in sorted(ready)]

    def forget(self, path: Path) -> None:
        self.seen.pop(path, None)

    def waiting(self) -> list[str]:
        """Names seen but not taken yet (being written, or not settled)."""
        return sorted(path.name for path in self.seen)

"""The supervisor's runtime directory: private, attributable, cleaned up after a crash.

Each server gets a fresh ``0700`` directory ``warmserve-XXXXXXXX`` in the temp
folder (``TMPDIR``) for the runner's socket, the metrics files and the local
cache. The supervisor removes it when it stops, but one killed with ``SIGKILL``
cannot, and its cache data would stay behind. So every directory records its
supervisor (pid, and the process's start time, which tells a reused pid apart),
and every start removes the directories whose supervisor is gone: never one
whose supervisor still runs, never one of another user, and never one it cannot
attribute (no record yet, or written by an older version).
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("warmserve.rundir")

PREFIX = "warmserve-"
OWNER_FILE = "supervisor"  # "<pid> <start time in clock ticks since boot>"


@dataclass(frozen=True, slots=True)
class Owner:
    pid: int
    started: str  # /proc/<pid>/stat start time; "" where /proc is not available

    @classmethod
    def of(cls, pid: int) -> Owner:
        return cls(pid, _start_time(pid) or "")

    @classmethod
    def parse(cls, text: str) -> Owner | None:
        pid, _, started = text.strip().partition(" ")
        return cls(int(pid), started) if pid.isdigit() and int(pid) > 0 else None

    def __str__(self) -> str:
        return f"{self.pid} {self.started}"

    def is_running(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # someone else's process: it exists
        started = _start_time(self.pid)
        if started is None:
            return True  # /proc cannot tell: keep the directory
        if not started:
            return False  # a zombie, or gone since the signal
        return started == self.started or not self.started  # else the pid was reused


def create(base: str | None = None) -> str:
    """Remove stale runtime directories in ``base``, then make and claim a new one."""
    folder = Path(base or tempfile.gettempdir())
    remove_stale(folder)
    path = Path(tempfile.mkdtemp(prefix=PREFIX, dir=folder))
    record = path / f".{OWNER_FILE}.tmp"
    record.write_text(f"{Owner.of(os.getpid())}\n")
    record.replace(path / OWNER_FILE)  # atomic: a reader sees all of it or nothing
    return str(path)


def remove_stale(folder: Path) -> list[Path]:
    """Remove this user's runtime directories in ``folder`` whose supervisor is gone."""
    removed = []
    for path in sorted(folder.glob(PREFIX + "*")):
        owner = _owner_of(path)
        if owner is None or owner.is_running():
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
        log.info("removed %s, left by supervisor %d (no longer running)", path, owner.pid)
    return removed


def _owner_of(path: Path) -> Owner | None:
    """The recorded supervisor of ``path``, if it is a directory of ours that has one."""
    try:
        info = path.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            return None
        return Owner.parse((path / OWNER_FILE).read_text()[:64])
    except (OSError, ValueError):
        return None


def _start_time(pid: int) -> str | None:
    """Start time of ``pid`` (field 22 of /proc/<pid>/stat): "" when the process has
    exited (gone or a zombie), None when /proc cannot tell."""
    if not Path("/proc/self/stat").exists():
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return ""
    except (OSError, IndexError):
        return None
    return "" if fields[0] == "Z" else fields[19]

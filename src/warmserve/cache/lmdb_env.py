"""One LMDB environment per process and directory, shared by reference count.

LMDB forbids opening the same environment twice in one process (its locks are
per process and file: closing a second handle would drop the first one's), so
every store on one directory in this process shares one handle, closed with the
last of them.
"""

from __future__ import annotations

import threading
from pathlib import Path

import lmdb

MAX_READERS = 1024  # one slot per reading process/thread; 64 bytes each
DATABASES = (b"log", b"index", b"meta")


class SharedEnv:
    """The environment and its named databases, opened for the cache's use."""

    def __init__(self, path: Path, map_size: int) -> None:
        self.path = path
        self.env = lmdb.open(
            str(path),
            map_size=map_size,
            subdir=True,
            sync=False,  # a cache needs no durability: the page cache is the store
            metasync=False,
            readahead=False,
            max_dbs=len(DATABASES),
            max_readers=MAX_READERS,
            mode=0o600,
        )
        self.env.reader_check()  # free reader slots left by killed processes
        self.log, self.index, self.meta = (
            self.env.open_db(name, create=True) for name in DATABASES
        )
        self.references = 0


_OPEN: dict[Path, SharedEnv] = {}
_LOCK = threading.Lock()


def acquire(path: Path, map_size: int) -> SharedEnv:
    """This process's handle on the environment in ``path`` (created if missing)."""
    with _LOCK:
        shared = _OPEN.get(path)
        if shared is None:
            shared = _OPEN[path] = SharedEnv(path, map_size)
        shared.references += 1
        return shared


def release(shared: SharedEnv) -> None:
    with _LOCK:
        shared.references -= 1
        if shared.references == 0:
            del _OPEN[shared.path]
            shared.env.close()

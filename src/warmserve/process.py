"""Small helpers every child process uses."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask Linux to signal us when the supervisor dies, so no child is orphaned."""
    if not sys.platform.startswith("linux"):
        return  # pragma: no cover - not Linux: tests and CI run on Linux
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - best effort
        pass


def trim_memory() -> None:
    """Give memory freed by a large request back to the operating system.

    glibc keeps freed heap pages for reuse; after one 100,000-row request a
    process would otherwise keep hundreds of MiB it no longer uses.
    """
    if not sys.platform.startswith("linux"):
        return  # pragma: no cover - not Linux: tests and CI run on Linux
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL(None).malloc_trim(0)

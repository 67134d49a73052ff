"""When is a dropped file complete? Scans with an injected clock, no sleeping."""

from __future__ import annotations

import os
from pathlib import Path

from warmserve.trainer.inbox import Inbox, is_candidate


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def write(path: Path, data: bytes, mtime: float) -> None:
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))


def test_names_being_written_are_never_candidates() -> None:
    assert is_candidate("batch.csv")
    for name in (".batch.csv", "batch.csv.tmp", "batch.csv.part", "b.csv.crdownload", "b.csv~"):
        assert not is_candidate(name), name


def test_a_file_is_taken_once_it_stopped_changing(tmp_path: Path) -> None:
    clock = Clock()
    inbox = Inbox(tmp_path, settle=1.0, empty_timeout=60.0, clock=clock)
    path = tmp_path / "b.csv"
    write(path, b"a,y\n1,0\n", clock.now)
    assert inbox.scan() == []  # first sight
    assert inbox.waiting() == ["b.csv"]
    clock.now += 0.5
    assert inbox.scan() == []  # unchanged but younger than settle
    write(path, b"a,y\n1,0\n2,1\n", clock.now)  # still growing
    clock.now += 1.5
    assert inbox.scan() == []  # changed since the last scan
    clock.now += 0.5
    assert inbox.scan() == [path]
    inbox.forget(path)
    path.unlink()
    assert inbox.scan() == [] and inbox.waiting() == []


def test_a_zero_byte_file_waits_for_content(tmp_path: Path) -> None:
    clock = Clock()
    inbox = Inbox(tmp_path, settle=1.0, empty_timeout=60.0, clock=clock)
    path = tmp_path / "partial.csv"
    write(path, b"", clock.now)
    for _ in range(5):
        clock.now += 5
        assert inbox.scan() == []
    write(path, b"a,y\n1,0\n", clock.now)  # the writer finally wrote it
    clock.now += 2
    assert inbox.scan() == []
    clock.now += 0.1
    assert inbox.scan() == [path]


def test_an_abandoned_zero_byte_file_is_handed_over_after_the_timeout(tmp_path: Path) -> None:
    clock = Clock()
    inbox = Inbox(tmp_path, settle=1.0, empty_timeout=60.0, clock=clock)
    path = tmp_path / "empty.csv"
    write(path, b"", clock.now)
    inbox.scan()
    clock.now += 59
    assert inbox.scan() == []
    clock.now += 2
    assert inbox.scan() == [path]


def test_rejected_folder_and_hidden_files_are_ignored(tmp_path: Path) -> None:
    clock = Clock()
    inbox = Inbox(tmp_path, settle=0.0, empty_timeout=60.0, clock=clock)
    (tmp_path / "rejected").mkdir()
    write(tmp_path / "rejected" / "old.csv", b"x", clock.now - 100)
    write(tmp_path / ".hidden.csv", b"x", clock.now - 100)
    write(tmp_path / "new.csv.tmp", b"x", clock.now - 100)
    inbox.scan()
    assert inbox.scan() == []

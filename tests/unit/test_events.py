"""The event log: JSON lines appended by several processes, bounded, read back safely."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

from warmserve.events import FILE_NAME, MAX_TEXT, EventLog, parse_line


def test_events_are_read_back_oldest_first_with_their_fields(tmp_path: Path) -> None:
    clock = iter([10.0, 11.0, 12.0])
    log = EventLog(tmp_path, clock=lambda: next(clock))
    log.append("started", workers=2, source="models:/m@production")
    log.append("swap", version="1", previous=None, load_seconds=0.5)
    log.append("restart", role="runner", reason="exited with -9")
    events = EventLog(tmp_path).read()
    assert [(e.time, e.kind) for e in events] == [
        (10.0, "started"), (11.0, "swap"), (12.0, "restart")
    ]  # fmt: skip
    assert events[1].fields == {"version": "1", "previous": None, "load_seconds": 0.5}
    assert events[0].to_dict() == {
        "time": 10.0, "kind": "started", "workers": 2, "source": "models:/m@production"
    }  # fmt: skip


def test_the_log_is_bounded_to_two_generations(tmp_path: Path) -> None:
    log = EventLog(tmp_path, max_bytes=2000)
    for index in range(500):
        log.append("kept_out", version=str(index), error="x" * 50)
    sizes = [p.stat().st_size for p in tmp_path.glob(FILE_NAME + "*") if p.suffix != ".lock"]
    assert len(sizes) == 2 and all(size <= 2000 for size in sizes)
    events = log.read()
    assert events[-1].fields["version"] == "499"  # the newest are kept, in order
    versions = [int(str(e.fields["version"])) for e in events]
    assert versions == sorted(versions) and len(versions) > 10


def test_long_texts_are_cut_and_odd_values_become_text(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    log.append("kept_out", error="e" * 10_000, attempts=3, ratio=float("nan"), obj=[1, 2])
    (event,) = log.read()
    assert len(str(event.fields["error"])) == MAX_TEXT
    assert event.fields["attempts"] == 3
    assert event.fields["ratio"] is None
    assert event.fields["obj"] == "[1, 2]"


def test_lines_that_are_not_events_are_skipped(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    log.append("started", workers=1)
    with open(tmp_path / FILE_NAME, "ab") as file:
        file.write(b'{"kind": "torn", "ti')  # a torn line, then garbage of every shape
        file.write(b'\nnot json\n[1,2]\n{"kind": 3, "time": 1}\n')
        file.write(b'{"kind": "x", "time": true}\n')
        file.write(b'{"kind": "x", "time": 5, "nested": {"a": 1}}\n' + b"y" * 5000 + b"\n")
    log.append("swap", version="2")
    kinds = [(e.kind, e.fields) for e in log.read()]
    assert kinds == [("started", {"workers": 1}), ("x", {}), ("swap", {"version": "2"})]
    assert parse_line(b"\x80\x81") is None


def test_the_reader_rereads_only_when_the_file_changed(tmp_path: Path) -> None:
    writer, reader = EventLog(tmp_path), EventLog(tmp_path)
    assert reader.read() == []
    writer.append("started", workers=1)
    first = reader.read()
    assert len(first) == 1 and reader.read() is not None
    writer.append("swap", version="1")
    assert [e.kind for e in reader.read()] == ["started", "swap"]
    assert [e.kind for e in reader.read(limit=1)] == ["swap"]


def _append_many(directory: str, writer: int) -> None:
    log = EventLog(directory, max_bytes=50_000)
    for index in range(200):
        log.append("restart", role=f"w{writer}", name=str(index), reason="r" * 100)


def test_several_processes_append_whole_lines(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_append_many, args=(str(tmp_path), n)) for n in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    raw = b"".join(
        path.read_bytes() for path in tmp_path.glob(FILE_NAME + "*") if path.suffix != ".lock"
    )
    lines = [line for line in raw.split(b"\n") if line]
    assert all(parse_line(line) is not None for line in lines), "a torn or interleaved line"
    assert len(EventLog(tmp_path, max_bytes=50_000).read(limit=10_000)) == len(lines)


def test_an_unwritable_log_does_not_raise(tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    EventLog(missing).append("started", workers=1)  # logged, not raised
    assert EventLog(missing).read() == []
    assert not os.path.exists(missing)

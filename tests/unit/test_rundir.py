"""Runtime directories: claimed by their supervisor, removed only once it is gone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from warmserve import rundir


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def fake_dir(base: Path, name: str, record: str | None) -> Path:
    path = base / f"{rundir.PREFIX}{name}"
    path.mkdir(mode=0o700)
    (path / "prediction-cache").mkdir()
    if record is not None:
        (path / rundir.OWNER_FILE).write_text(record)
    return path


def test_create_claims_a_private_directory(tmp_path: Path) -> None:
    path = Path(rundir.create(str(tmp_path)))
    assert path.parent == tmp_path and path.name.startswith(rundir.PREFIX)
    assert path.stat().st_mode & 0o777 == 0o700
    owner = rundir.Owner.parse((path / rundir.OWNER_FILE).read_text())
    assert owner is not None and owner.pid == os.getpid() and owner.started
    assert owner.is_running()


def test_only_directories_of_gone_supervisors_are_removed(tmp_path: Path) -> None:
    me = rundir.Owner.of(os.getpid())
    dead = fake_dir(tmp_path, "dead", f"{dead_pid()} 12345\n")
    reused = fake_dir(tmp_path, "reused", f"{me.pid} {int(me.started) - 1}\n")  # pid reused
    live = fake_dir(tmp_path, "live", f"{me}\n")
    unclaimed = fake_dir(tmp_path, "unclaimed", None)  # being created, or an older version
    garbage = fake_dir(tmp_path, "garbage", "not a pid")
    other = tmp_path / "unrelated"
    other.mkdir()
    link = tmp_path / f"{rundir.PREFIX}link"
    link.symlink_to(dead)

    new = Path(rundir.create(str(tmp_path)))

    assert not dead.exists() and not reused.exists()
    for kept in (live, unclaimed, garbage, other, link, new):
        assert kept.exists() or kept.is_symlink(), kept
    assert sorted(rundir.remove_stale(tmp_path)) == []  # nothing else to do


def test_a_zombie_supervisor_is_gone(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        owner = rundir.Owner.of(proc.pid)
        path = fake_dir(tmp_path, "zombie", f"{owner}\n")
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped
        assert rundir.remove_stale(tmp_path) == [path]
    finally:
        proc.wait()

"""Runtime directories of real servers: a SIGKILLed one is cleaned by the next start,
a live one is left alone; the local cache can live elsewhere and is kept there.

Each server gets ``TMPDIR`` pointed at this test's own folder, so other servers on
the machine are neither seen nor touched.
"""

from __future__ import annotations

import signal
from pathlib import Path

from support import Server, wait_until


def runtime_dirs(tmp: Path) -> set[Path]:
    return set(tmp.glob("warmserve-*"))


def start(home: Path, tmp: Path, *args: str) -> tuple[Server, Path]:
    """A server without a model (quick to start) and the runtime directory it made."""
    before = runtime_dirs(tmp)
    server = Server(home, "--cache", "local", *args, env={"TMPDIR": str(tmp)})
    wait_until(lambda: server.client.get("/health/live").status_code == 200, what="liveness")
    (made,) = runtime_dirs(tmp) - before
    assert (made / "prediction-cache" / "data.mdb").exists()  # the cache data is inside
    return server, made


def test_sigkilled_servers_directory_is_removed_by_the_next_start(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    servers: list[Server] = []
    try:
        live, live_dir = start(tmp_path / "a", tmp)
        servers.append(live)
        killed, killed_dir = start(tmp_path / "b", tmp)
        servers.append(killed)
        killed.stop(signal.SIGKILL)
        assert killed_dir.exists()  # nothing could remove it

        third, third_dir = start(tmp_path / "c", tmp)
        servers.append(third)
        assert not killed_dir.exists()
        assert live_dir.exists() and third_dir.exists()
        assert "no longer running" in third.log()
        assert live.client.get("/health/live").status_code == 200
    finally:
        for server in servers:
            server.stop()
    assert runtime_dirs(tmp) == set()  # stopped servers remove their own


def test_cache_dir_moves_the_local_store_and_keeps_it(tmp_path: Path) -> None:
    tmp, store = tmp_path / "tmp", tmp_path / "cache"
    tmp.mkdir()
    server = Server(tmp_path / "home", "--cache", "local", "--cache-dir", str(store),
                    env={"TMPDIR": str(tmp)})  # fmt: skip
    try:
        wait_until(lambda: (store / "data.mdb").exists(), what="the store in --cache-dir")
        (made,) = runtime_dirs(tmp)
        assert not (made / "prediction-cache").exists()
    finally:
        server.stop()
    assert (store / "data.mdb").exists() and runtime_dirs(tmp) == set()

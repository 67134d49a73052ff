"""Supervision without processes: the worker heartbeat over a real pipe, the runner probe
against a fake runner (a unix socket server in a thread), restart back-off."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest

from fakes import served_model
from support import wait_until, wait_until_async
from warmserve import protocol
from warmserve.children import (
    MAX_RESTART_DELAY,
    STABLE_AFTER,
    START_TIMEOUT,
    Restarts,
    RunnerHandle,
    RunnerProbe,
    WorkerHandle,
    join_or_kill,
)
from warmserve.heartbeat import PING, PONG, READY, Heartbeat, answer_pings
from warmserve.protocol import HostStatus, Ping, Pong, Shutdown

# --- the worker heartbeat ---------------------------------------------------------------


@pytest.fixture
def pipe() -> Iterator[tuple[Connection, Connection]]:
    ours, theirs = Pipe()
    yield ours, theirs
    ours.close()
    theirs.close()


def test_a_worker_that_never_says_ready_is_replaced_after_the_start_timeout(
    pipe: tuple[Connection, Connection],
) -> None:
    heartbeat = Heartbeat(pipe[0], started=100.0)
    assert heartbeat.check(now=105.0, interval=1, timeout=2, start_timeout=10) is None
    assert heartbeat.check(now=111.0, interval=1, timeout=2, start_timeout=10) == (
        "did not start in time"
    )


def test_pings_answered_keep_a_worker_and_a_silent_one_is_replaced(
    pipe: tuple[Connection, Connection],
) -> None:
    ours, theirs = pipe
    heartbeat = Heartbeat(ours, started=0.0)
    theirs.send_bytes(READY)
    assert heartbeat.check(now=1.0, interval=1, timeout=2, start_timeout=10) is None
    assert heartbeat.ready and theirs.recv_bytes() == PING  # the first ping went out
    theirs.send_bytes(PONG)
    assert heartbeat.check(now=1.5, interval=1, timeout=2, start_timeout=10) is None
    assert heartbeat.sent_at is None and not theirs.poll()  # next ping not due yet
    assert heartbeat.check(now=2.0, interval=1, timeout=2, start_timeout=10) is None
    assert theirs.recv_bytes() == PING
    assert heartbeat.check(now=3.9, interval=1, timeout=2, start_timeout=10) is None
    assert heartbeat.check(now=4.1, interval=1, timeout=2, start_timeout=10) == (
        "did not answer a ping within 2s"
    )


async def test_the_workers_event_loop_answers_pings(
    pipe: tuple[Connection, Connection], monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, theirs = pipe
    loop = asyncio.get_running_loop()
    removed: list[int] = []
    remove_reader = loop.remove_reader

    def spy(fd: int) -> bool:
        removed.append(fd)
        return remove_reader(fd)

    monkeypatch.setattr(loop, "remove_reader", spy)
    answer_pings(theirs)
    assert ours.recv_bytes() == READY
    ours.send_bytes(PING)
    await wait_until_async(ours.poll, what="a pong")
    assert ours.recv_bytes() == PONG
    ours.send_bytes(PING)
    await wait_until_async(ours.poll, what="a second pong")
    assert ours.recv_bytes() == PONG
    fd = theirs.fileno()
    ours.close()  # the supervisor is gone: the worker stops listening, nothing raises
    await wait_until_async(lambda: removed == [fd], what="the reader to be removed")


# --- the runner probe -------------------------------------------------------------------


class FakeRunner:
    """Answers each Ping with ``pong`` (unless ``answer`` is off) on a unix socket, in a thread."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.answer = True
        self.hosts = {"default": HostStatus(version="1")}
        self.resume = {"default": served_model("1")}
        self.received: list[protocol.Message] = []
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(4)
        self.listener.settimeout(5)
        self.conn: socket.socket | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        self.conn = conn
        conn.settimeout(10)
        try:
            while True:
                message = protocol.recv_message(conn)
                self.received.append(message)
                if isinstance(message, Ping) and self.answer:
                    conn.sendall(protocol.encode(Pong(message.id, self.hosts, self.resume)))
        except (OSError, ConnectionError, protocol.ProtocolError):
            pass

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        self.listener.close()
        self.thread.join(10)


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[FakeRunner]:
    fake = FakeRunner(tmp_path / "runner.sock")
    yield fake
    fake.close()


@pytest.fixture
def probe(runner: FakeRunner) -> Iterator[RunnerProbe]:
    real = RunnerProbe(runner.path, interval=1.0, timeout=5.0)
    assert real.connect()
    yield real
    real.close()


def test_a_pong_is_recorded_and_the_next_ping_waits_for_the_interval(
    runner: FakeRunner, probe: RunnerProbe
) -> None:
    assert probe.poll(now=10.0) is None  # sends the first ping
    wait_until(lambda: probe.poll(now=10.1) is None and probe.last_pong, 5, what="a pong")
    assert probe.last_pong is not None and probe.last_pong.hosts == runner.hosts
    assert probe.sent_at is None
    assert probe.poll(now=10.5) is None and len(runner.received) == 1  # not due yet
    assert probe.poll(now=11.0) is None
    wait_until(lambda: len(runner.received) == 2, 5, what="the second ping")


def test_a_ping_unanswered_past_the_timeout_is_a_failure(
    runner: FakeRunner, probe: RunnerProbe
) -> None:
    runner.answer = False
    assert probe.poll(now=0.0) is None
    wait_until(lambda: runner.received, 5, what="the ping to arrive")
    assert probe.poll(now=4.9) is None
    assert probe.poll(now=5.1) == "did not answer a ping within 5s"


def test_a_closed_connection_is_a_failure(runner: FakeRunner, probe: RunnerProbe) -> None:
    assert probe.poll(now=0.0) is None
    wait_until(lambda: runner.received, 5, what="the connection")
    runner.close()
    reason = wait_until(lambda: probe.poll(now=0.1), 5, what="the probe to see the close")
    assert reason in ("closed its control connection", "control connection failed (OSError)")


def test_nothing_listening_is_no_connection(tmp_path: Path) -> None:
    assert not RunnerProbe(str(tmp_path / "nobody.sock"), 1.0, 1.0).connect()


class FakeProcess:
    """What a handle uses of a process: exitcode, pid, terminate()."""

    def __init__(self) -> None:
        self.exitcode: int | None = None
        self.pid = None
        self.terminated = False
        self.name = "fake"

    def terminate(self) -> None:
        self.terminated = True


def handle(runner: FakeRunner, started: list[Any]) -> RunnerHandle:
    def launch(resume: dict[str, Any]) -> Any:
        started.append(resume)
        return FakeProcess()

    return RunnerHandle("runner", launch, RunnerProbe(runner.path, 1.0, 5.0), hang_timeout=60.0)


def checked_after_a_pong(subject: RunnerHandle) -> str | None:
    subject.check(now=0.0)  # connects and pings
    wait_until(lambda: subject.check(now=0.1) or subject.probe.last_pong, 5, what="a pong")
    return subject.check(now=0.2)


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        (HostStatus(version="1"), None),
        (HostStatus(version="1", healthy=False), "reports model 'default' unhealthy"),
        (HostStatus(version="1", busy_for=61.0), "predict hung for 61s"),
    ],
)
def test_the_runner_handle_reads_the_pong(
    runner: FakeRunner, host: HostStatus, reason: str | None
) -> None:
    runner.hosts = {"default": host}
    started: list[Any] = []
    subject = handle(runner, started)
    subject.start(now=0.0)
    try:
        found = checked_after_a_pong(subject)
        assert (found or "").startswith(reason or "") and (found is None) == (reason is None)
        assert subject.resume == runner.resume  # what to load again on a restart
        subject.start(now=1.0)
        assert started == [{}, runner.resume]
    finally:
        subject.closed()


def unreachable(tmp_path: Path, process: FakeProcess) -> RunnerHandle:
    """A runner handle whose process never opens its socket."""

    def launch(resume: dict[str, Any]) -> Any:
        return process

    return RunnerHandle("runner", launch, RunnerProbe(str(tmp_path / "no.sock"), 1, 5), 60)


def test_a_runner_that_never_opens_its_socket_is_replaced(tmp_path: Path) -> None:
    subject = unreachable(tmp_path, FakeProcess())
    subject.start(now=0.0)
    assert subject.check(now=1.0) is None
    assert subject.check(now=START_TIMEOUT + 1) == "did not open its socket in time"


def test_stopping_the_runner_is_a_shutdown_message(runner: FakeRunner) -> None:
    subject = handle(runner, [])
    subject.start(now=0.0)
    try:
        subject.request_stop()
        wait_until(lambda: any(isinstance(m, Shutdown) for m in runner.received), 5)
        assert not subject.process.terminated  # type: ignore[union-attr]
    finally:
        subject.closed()
    assert subject.probe.sock is None and subject.probe.last_pong is None


def test_a_runner_that_cannot_be_told_is_terminated(tmp_path: Path) -> None:
    process = FakeProcess()
    subject = unreachable(tmp_path, process)
    subject.request_stop()  # not started: nothing to stop
    subject.start(now=0.0)
    subject.request_stop()
    assert process.terminated


def test_a_worker_handle_checks_its_heartbeat(pipe: tuple[Connection, Connection]) -> None:
    ours, theirs = pipe
    process = FakeProcess()
    worker = WorkerHandle("http-0", lambda: (process, Heartbeat(ours, 0.0)), 1.0, 2.0)  # type: ignore[arg-type, return-value]
    worker.start(now=0.0)
    theirs.send_bytes(READY)
    assert worker.check(now=1.0) is None
    worker.request_stop()  # no pid: nothing to signal
    worker.closed()
    assert worker.heartbeat is None and ours.closed


def test_restart_delays_back_off_and_reset_once_stable() -> None:
    restarts = Restarts(started=0.0)
    delays = [restarts.delay(now=1.0) for _ in range(9)]
    assert delays == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, MAX_RESTART_DELAY, MAX_RESTART_DELAY]
    restarts.started = 100.0
    assert restarts.delay(now=100.0 + STABLE_AFTER + 1) == 0.25  # it ran long enough


def test_join_or_kill_without_a_process_does_nothing() -> None:
    join_or_kill(None, 1.0)

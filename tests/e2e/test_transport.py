"""Transport limits on a real server: raw sockets do what no HTTP client would.

Idle, slow-drip, short-body and oversized-head connections are each closed within
the configured limit (polled with a deadline, never timed), with a JSON 408/431
where an answer is still possible; normal requests keep being answered meanwhile,
pipelined and keep-alive requests still work, and a 100 MiB header line does not
grow the worker's memory by its size.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import Server, raw_connect, read_until_closed, status_of, wait_until

LIMITS = {"header": 1.0, "body": 1.5, "idle": 1.0}
ALLOWED = 15.0  # the deadline each test polls with: far above every limit
HEAD_LIMIT = 8192


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("transport") / "home"
    server = Server(
        home, "--header-timeout", str(LIMITS["header"]), "--body-timeout", str(LIMITS["body"]),
        "--keep-alive-timeout", str(LIMITS["idle"]), "--max-header-bytes", str(HEAD_LIMIT),
    )  # fmt: skip
    try:
        # /reload answers 202 only once the worker reaches the model process (no model here)
        wait_until(lambda: server.client.get("/model").json()["runner"], what="the runner")
        yield server
    finally:
        server.stop()


def json_error(answer: bytes) -> str:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"connection: close" in head.lower(), head
    return str(json.loads(body)["error_code"])


def drip(sock: socket.socket, data: bytes, every: float = 0.2) -> bytes:
    """Send ``data`` a byte at a time until the server closes; return what it answered."""
    sock.settimeout(every)
    received = bytearray()
    for byte in data:
        try:
            sock.sendall(bytes([byte]))
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            break
        if not chunk:
            break
        received += chunk
    return bytes(received) + read_until_closed(sock, ALLOWED)


def test_idle_connection_is_closed_without_an_answer(server: Server) -> None:
    with raw_connect(server.url) as sock:
        assert read_until_closed(sock, ALLOWED) == b""
    with raw_connect(server.url) as sock:  # bytes that begin no request do not keep it open
        sock.sendall(b"\r\n")
        assert read_until_closed(sock, ALLOWED) == b""


def test_slow_drip_head_is_refused_with_408(server: Server) -> None:
    with raw_connect(server.url) as sock:
        answer = drip(sock, b"GET /health/live HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: y\r\n" * 500)
    assert status_of(answer) == 408 and json_error(answer) == "REQUEST_TIMEOUT"


@pytest.mark.parametrize("path", ["/invocations", "/reload"])
def test_slow_drip_body_is_refused_with_408(server: Server, path: str) -> None:
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    with raw_connect(server.url) as sock:
        sock.sendall(head.encode() + b"Content-Length: 1000\r\n\r\n")
        answer = drip(sock, b" " * 1000)
    if path == "/invocations":  # the route waits for its body: it can still be answered
        assert status_of(answer) == 408 and json_error(answer) == "REQUEST_TIMEOUT"
    else:  # /reload reads no body: it answered at once, then the connection is closed
        assert status_of(answer) == 202, answer


def test_short_body_is_refused_with_408(server: Server) -> None:
    with raw_connect(server.url) as sock:
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"dataframe_records": '
        )
        answer = read_until_closed(sock, ALLOWED)
    assert status_of(answer) == 408 and json_error(answer) == "REQUEST_TIMEOUT"


def test_oversized_head_is_refused_with_431(server: Server) -> None:
    with raw_connect(server.url) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: y\r\n" * 1000 + b"\r\n")
        answer = read_until_closed(sock, ALLOWED)
    assert status_of(answer) == 431 and json_error(answer) == "HEADERS_TOO_LARGE"
    # one line just under the limit is fine
    with raw_connect(server.url) as sock:
        sock.sendall(
            b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: "
            + b"y" * (HEAD_LIMIT - 200) + b"\r\n\r\n"
        )  # fmt: skip
        assert status_of(read_until_closed(sock, ALLOWED)) == 200


def test_unparsable_request_is_a_json_400(server: Server) -> None:
    with raw_connect(server.url) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        answer = read_until_closed(sock, ALLOWED)
    assert status_of(answer) == 400 and json_error(answer) == "BAD_REQUEST"


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_huge_header_line_is_not_buffered(server: Server) -> None:
    runner = server.runner_pid()
    (worker,) = [pid for pid in server.children().values() if pid != runner]
    before = peak_rss_kib(worker)
    sent = 0
    chunk = b"y" * (1024 * 1024)
    with raw_connect(server.url) as sock:
        try:
            sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Huge: ")
            while sent < 100 * 1024 * 1024:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # closed (or reset) by the server: what should happen
        answer = read_until_closed(sock, ALLOWED)
    assert sent < 100 * 1024 * 1024, "the server read a 100 MiB header line"
    assert answer == b"" or status_of(answer) == 431
    grown_mib = (peak_rss_kib(worker) - before) / 1024
    assert grown_mib < 16, f"the worker's peak memory grew by {grown_mib:.0f} MiB"


def test_pipelined_and_keep_alive_requests_still_work(server: Server) -> None:
    request = b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"
    body = b'{"status":"alive"}'

    def answers(sock: socket.socket, count: int) -> bytes:
        received = b""
        while received.count(body) < count:  # whole answers, however the bytes arrive
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk
        return received

    with raw_connect(server.url) as sock:
        sock.sendall(request * 3)  # pipelined: three answers
        assert answers(sock, 3).count(b"HTTP/1.1 200") == 3
        sock.sendall(request)  # kept alive: a fourth request on the same connection
        assert status_of(answers(sock, 1)) == 200
        assert read_until_closed(sock, ALLOWED) == b""  # then closed once idle


def test_normal_requests_are_answered_while_slow_clients_hang_on(server: Server) -> None:
    stop = threading.Event()
    sockets = [raw_connect(server.url) for _ in range(50)]

    def hold(sock: socket.socket) -> None:
        for byte in b"GET /health/live HTTP/1.1\r\n":
            if stop.is_set():
                return
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                return
            stop.wait(0.1)

    threads = [threading.Thread(target=hold, args=(s,)) for s in sockets]
    for thread in threads:
        thread.start()
    try:
        for _ in range(20):
            assert server.client.get("/health/live").status_code == 200
            response = server.client.post("/invocations", json={"dataframe_records": [{"x": 1}]})
            assert response.status_code == 503  # read in full and answered: no model here
            assert response.json()["error_code"] == "MODEL_NOT_AVAILABLE"
    finally:
        stop.set()
        for thread in threads:
            thread.join(ALLOWED)
        for sock in sockets:
            sock.close()

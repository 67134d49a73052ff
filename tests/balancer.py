"""haproxy playing a Kubernetes Service, and bounded client loops through it.

haproxy runs in the root namespace on 127.0.0.1, round robin over the replicas, with
its health check on the readiness path at the readiness probe's period (a failed
check takes a replica out, as a failed readiness probe takes a pod out of the
endpoints). Connection failures and empty responses are retried on another replica,
as kube-proxy's connection-level balancing plus a client retry would. ``disable`` /
``enable`` are what the endpoint controller does when a pod is deleted or added.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from support import free_port, wait_until

ROWS = "/invocations"


class HAProxy:
    def __init__(
        self, workdir: Path, backends: dict[str, str], check_path: str, check_period: float
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin = workdir / "haproxy.sock"
        self.config = workdir / "haproxy.cfg"
        inter = max(100, round(check_period * 1000))
        servers = "\n".join(
            f"    server {name} {address} check inter {inter}ms fall 1 rise 1"
            for name, address in backends.items()
        )
        self.config.write_text(
            f"""global
    stats socket {self.admin} mode 600 level admin
    maxconn 1000
defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout check 1s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response
frontend service
    bind 127.0.0.1:{self.port}
    default_backend pods
backend pods
    balance roundrobin
    option httpchk GET {check_path}
    http-check expect status 200
{servers}
"""
        )
        self.log_path = workdir / "haproxy.log"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                ["haproxy", "-db", "-f", str(self.config)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        wait_until(self.admin.exists, 20, what="haproxy's admin socket")

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(self.admin))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def disable(self, server: str) -> None:
        self.command(f"disable server pods/{server}")

    def enable(self, server: str) -> None:
        self.command(f"enable server pods/{server}")

    def up(self) -> set[str]:
        """The servers haproxy would send a request to now."""
        found = set()
        for line in self.command("show servers state pods").splitlines()[2:]:
            parts = line.split()
            # be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...
            if len(parts) > 6 and parts[5] == "2" and parts[6] == "0":
                found.add(parts[3])
        return found

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@dataclass(frozen=True)
class Answer:
    at: float  # time.monotonic() when the request started
    status: int  # 0: no HTTP answer at all (connection error, timeout)
    replica: str | None
    version: str | None
    error: str = ""


class ClientLoop:
    """``clients`` threads POSTing ``body`` through the balancer, one request at a
    time each, until ``finish()`` or ``max_seconds`` (whichever comes first)."""

    def __init__(
        self, url: str, body: dict[str, Any], clients: int = 6, max_seconds: float = 240.0
    ) -> None:
        self.url = url
        self.body = body
        self.answers: list[Answer] = []
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.deadline = time.monotonic() + max_seconds
        self.threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(clients)]
        for thread in self.threads:
            thread.start()

    def _loop(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop_event.is_set() and time.monotonic() < self.deadline:
                started = time.monotonic()
                try:
                    response = client.post(ROWS, json=self.body)
                    answer = Answer(
                        started, response.status_code, response.headers.get("x-replica"),
                        response.headers.get("x-model-version"),
                        "" if response.status_code == 200 else response.text[:200],
                    )  # fmt: skip
                except httpx.HTTPError as exc:
                    answer = Answer(started, 0, None, None, f"{type(exc).__name__}: {exc}")
                with self.lock:
                    self.answers.append(answer)

    def count(self) -> int:
        with self.lock:
            return len(self.answers)

    def since(self, moment: float) -> list[Answer]:
        with self.lock:
            return [a for a in self.answers if a.at >= moment]

    def finish(self) -> list[Answer]:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(60)
            assert not thread.is_alive(), "a client hung"
        return self.answers


def failed(answers: list[Answer]) -> list[Answer]:
    return [a for a in answers if a.status != 200]


def summary(answers: list[Answer]) -> str:
    """One line: totals, failures, and answers per replica and version."""
    per = Counter(f"{a.replica}@v{a.version}" for a in answers if a.status == 200)
    bad = Counter(a.status for a in failed(answers))
    return f"{len(answers)} requests, {sum(bad.values())} failed {dict(bad)}; {dict(per)}"


@contextlib.contextmanager
def client_loop(url: str, body: dict[str, Any], **kwargs: Any) -> Any:
    loop = ClientLoop(url, body, **kwargs)
    try:
        yield loop
    finally:
        loop.finish()

"""A hostile client against a real server (issue 8): nothing it sends may stop the server,
fail other clients' requests, or reach the model when it should not.

Each test runs a real `warmserve serve` and counts collateral failures among honest
clients running at the same time: the expected count is always zero.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from support import (
    MODELS,
    ROOT,
    Load,
    Server,
    calls,
    cli,
    register_code_model,
    register_recorder,
    samples,
    value,
    wait_until,
)
from warmserve.settings import Settings

BACKGROUND = {"dataframe_split": {"columns": ["x"], "data": [[1.0]]}}


def deep(levels: int) -> str:
    """JSON text of a string nested ``levels`` lists deep (too deep for json.dumps)."""
    return "[" * levels + '"x"' + "]" * levels


POISON: dict[str, str] = {
    "a column name nested 1000 lists deep": (
        '{"dataframe_split": {"columns": [' + deep(1000) + '], "data": [[1.0]]}}'
    ),
    "params nested 300 levels deep": (
        '{"dataframe_records": [{"x": 1.0}], "params": {"p": ' + deep(300) + "}}"
    ),
    "an index longer than the data": json.dumps(
        {"dataframe_split": {"columns": ["x"], "index": [0, 1, 2], "data": [[1.0]]}}
    ),
    "two hundred thousand empty rows": json.dumps(
        {"dataframe_split": {"columns": ["x"], "data": [[]] * 200_000}}
    ),
    "rows wider than the columns": json.dumps(
        {"dataframe_split": {"columns": ["x"], "data": [[1.0, 2.0]]}}
    ),
    "a list of lists as a column name": json.dumps(
        {"dataframe_split": {"columns": [["x"]], "data": [[1.0]]}}
    ),
}
JSON_HEADERS = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def oddball(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("oddball")
    signature = ModelSignature(inputs=Schema([ColSpec("double", "x")]))
    import pandas as pd

    register_code_model(
        Settings(home=home), "odd", MODELS / "oddball.py", signature, pd.DataFrame({"x": [1.0]})
    )
    server = Server(home, "--model", "models:/odd@production", "--workers", "2")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def test_poison_requests_get_400_and_fail_no_one_else(oddball: Server) -> None:
    load = Load(oddball.url, BACKGROUND, clients=6)
    try:
        with ThreadPoolExecutor(8) as pool, httpx.Client(base_url=oddball.url, timeout=60) as http:
            for name, body in POISON.items():
                burst = [
                    pool.submit(http.post, "/invocations", content=body, headers=JSON_HEADERS)
                    for _ in range(8)
                ]
                for future in burst:
                    answer = future.result()
                    assert answer.status_code == 400, (name, answer.text)
                    assert answer.json()["error_code"] == "BAD_REQUEST", name
    finally:
        background = load.finish()
    collateral = [s for s in background if s.status != 200]
    assert background and not collateral, collateral[:3]
    assert oddball.client.get("/health/ready").status_code == 200
    assert "Traceback" not in oddball.log()


def test_an_output_that_cannot_be_encoded_fails_only_its_request(oddball: Server) -> None:
    """Six concurrent one-row requests merged into one batch; one row's output is a set."""
    rows = [1.0, 2.0, 13.0, 4.0, 5.0, 6.0]
    with ThreadPoolExecutor(6) as pool, httpx.Client(base_url=oddball.url, timeout=60) as http:
        for _ in range(5):
            futures = [
                pool.submit(
                    http.post,
                    "/invocations",
                    json={"dataframe_split": {"columns": ["x"], "data": [[x]]}},
                )
                for x in rows
            ]
            answers = [future.result() for future in futures]
            for x, answer in zip(rows, answers, strict=True):
                if x == 13.0:  # a 500, as in MLflow (whose body is plain text)
                    assert answer.status_code == 500, answer.text
                    assert answer.json()["error_code"] == "INTERNAL_ERROR"
                    assert "cannot be encoded" in answer.json()["message"]
                    assert answer.headers["x-model-version"] == "1"
                else:
                    assert answer.status_code == 200, answer.text
                    assert answer.json() == {"predictions": [2 * x]}
    assert oddball.client.get("/health/ready").status_code == 200


def test_a_non_ascii_authorization_header_is_a_401(tmp_path: Path) -> None:
    server = Server(tmp_path / "home", "--admin-token", "s3cret")
    try:
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(
                b"POST /reload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xe9\xff\r\n"
                b"Content-Length: 0\r\nConnection: close\r\n\r\n"
            )
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
        assert b"UNAUTHORIZED" in answer
        assert "Traceback" not in server.log()
    finally:
        server.stop()


@pytest.fixture
def gated(tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    home = tmp_path / "home"
    calls_file = tmp_path / "calls.txt"
    register_recorder(Settings(home=home), "rec", calls_file)
    server = Server(
        home, "--model", "models:/rec@production", "--workers", "2", "--chunk-rows", "100"
    )
    try:
        server.wait_ready()
        yield server, calls_file
    finally:
        Path(f"{calls_file}.gate").touch()  # never leave a predict blocked
        server.stop()


def post_json(url: str, body: Any) -> httpx.Response:
    return httpx.post(f"{url}/invocations", json=body, timeout=60)


def records(*xs: float, **extra: float) -> dict[str, Any]:
    return {"dataframe_records": [{"x": x, **extra} for x in xs]}


def abandon(url: str, body: Any) -> None:
    """Send a whole request, then hang up without reading the answer."""
    host, port = url.removeprefix("http://").split(":")
    payload = json.dumps(body).encode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )


def test_requests_whose_client_left_never_reach_the_model(gated: tuple[Server, Path]) -> None:
    server, calls_file = gated
    before = calls(calls_file)  # the warm-up on the input example
    with ThreadPoolExecutor(2) as pool:
        blocker = pool.submit(post_json, server.url, records(0.0, gate=1))
        wait_until(lambda: calls(calls_file) == [*before, 1], what="the gated predict to start")
        for _ in range(5):
            abandon(server.url, records(1.0, 2.0, 3.0))
        wait_until(
            lambda: value(samples(server), "warmserve_cancelled_requests_total") == 5,
            what="five cancelled requests",
        )
        Path(f"{calls_file}.gate").touch()
        assert blocker.result().status_code == 200
    assert post_json(server.url, records(7.0)).json() == {"predictions": [{"y": 14.0}]}
    assert calls(calls_file) == [*before, 1, 1]  # the gate and the last request, nothing else
    assert (
        value(samples(server), "warmserve_requests_total", route="/invocations", status="499") == 5
    )


def test_a_large_request_lets_others_through_between_its_parts(gated: tuple[Server, Path]) -> None:
    server, calls_file = gated
    xs = [float(i) for i in range(450)]
    before = calls(calls_file)
    with ThreadPoolExecutor(3) as pool:
        blocker = pool.submit(post_json, server.url, records(0.0, gate=1))
        wait_until(lambda: calls(calls_file) == [*before, 1], what="the gated predict to start")
        big = pool.submit(post_json, server.url, records(*xs))
        wait_until(
            lambda: value(samples(server), "warmserve_queue_depth") >= 1,
            what="the big request queued",
        )
        small = pool.submit(post_json, server.url, records(99.0))
        wait_until(
            lambda: value(samples(server), "warmserve_queue_depth") >= 2,
            what="the small one queued",
        )
        Path(f"{calls_file}.gate").touch()
        assert blocker.result().status_code == 200
        big_answer, small_answer = big.result(), small.result()
    assert small_answer.json() == {"predictions": [{"y": 198.0}]}
    assert big_answer.json() == {"predictions": [{"y": 2 * x} for x in xs]}
    # the gate, the first part of 100 rows, then the small request, then the other parts
    assert calls(calls_file) == [*before, 1, 100, 1, 100, 100, 100, 50]


@pytest.mark.slow
def test_schemathesis_finds_no_failure_in_the_servers_own_openapi(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cli(home, "train", "--dataset", "iris", "--name", "iris", "--promote", "production")
    server = Server(home, "--model", "models:/iris@production", "--admin-token", "s3cret")
    try:
        server.wait_ready()
        result = subprocess.run(
            [
                os.path.join(os.path.dirname(sys.executable), "schemathesis"),
                "--config-file", str(ROOT / "tests" / "e2e" / "schemathesis.toml"),
                "run", f"{server.url}/openapi.json",
                "--max-examples", "40", "--workers", "1", "--seed", "1",
                "-H", "Authorization: Bearer s3cret", "--no-color",
            ],
            capture_output=True, text=True, timeout=900, cwd=tmp_path,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        assert " passed" in result.stdout
    finally:
        server.stop()

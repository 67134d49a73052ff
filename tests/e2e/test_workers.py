"""Many HTTP workers, one model process: batching, faults and shutdown, with real processes."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from support import Server, calls, register_recorder, wait_until
from warmserve.settings import Settings

FAST_SUPERVISION = ["--ping-interval", "0.2", "--ping-timeout", "2"]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    home = tmp_path_factory.mktemp("workers") / "home"
    calls_file = home.parent / "calls.txt"
    register_recorder(Settings(home=home), "rec", calls_file)
    return home, calls_file


@pytest.fixture
def four_workers(registry: tuple[Path, Path]) -> Iterator[Server]:
    home, calls_file = registry
    calls_file.unlink(missing_ok=True)
    Path(f"{calls_file}.gate").unlink(missing_ok=True)
    server = Server(
        home,
        "--model", "models:/rec@production",
        "--workers", "4",
        "--request-timeout", "60",
        *FAST_SUPERVISION,
    )  # fmt: skip
    server.wait_ready()
    yield server
    server.stop(signal.SIGKILL)


def predict(server: Server, rows: list[dict[str, float]]) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=120) as client:
        return client.post("/invocations", json={"dataframe_records": rows})


def queued(server: Server) -> int:
    runner = server.client.get("/model").json()["runner"] or {}
    return int(runner.get("queued", 0))


def test_correct_predictions_through_four_workers(four_workers: Server) -> None:
    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda i: predict(four_workers, [{"x": float(i)}]), range(200)))
    for i, response in enumerate(responses):
        assert response.status_code == 200, response.text
        assert response.json() == {"predictions": [{"y": 2.0 * i}]}


def test_http_workers_do_not_load_model_libraries(four_workers: Server) -> None:
    runner = four_workers.runner_pid()
    workers = [pid for pid in four_workers.children().values() if pid != runner]
    assert len(workers) == 4
    for pid in workers:
        maps = Path(f"/proc/{pid}/maps").read_text()
        for library in ("/pandas/", "/sklearn/", "/numpy/", "/pyarrow/"):
            assert library not in maps, f"worker {pid} loaded {library}"
    assert "/pandas/" in Path(f"/proc/{runner}/maps").read_text()


def gate_open(calls_file: Path) -> None:
    Path(f"{calls_file}.gate").touch()


def test_concurrent_requests_from_several_workers_share_one_batch(
    four_workers: Server, registry: tuple[Path, Path]
) -> None:
    _, calls_file = registry
    before = calls(calls_file)  # the warm-up prediction
    with ThreadPoolExecutor(9) as pool:
        blocker = pool.submit(predict, four_workers, [{"x": 0.0, "gate": 1}])
        wait_until(lambda: calls(calls_file) == [*before, 1], what="the gated predict to start")
        followers = [pool.submit(predict, four_workers, [{"x": float(i)}]) for i in range(8)]
        wait_until(lambda: queued(four_workers) == 8, what="8 requests queued in the runner")
        gate_open(calls_file)
        assert blocker.result().status_code == 200
        results = [f.result() for f in followers]
    assert [r.json() for r in results] == [{"predictions": [{"y": 2.0 * i}]} for i in range(8)]
    assert calls(calls_file) == [*before, 1, 8]


def test_a_row_with_a_bad_type_fails_alone(
    four_workers: Server, registry: tuple[Path, Path]
) -> None:
    _, calls_file = registry
    rows: list[list[dict[str, object]]] = [[{"x": float(i)}] for i in range(7)]
    rows.insert(3, [{"x": "not a number"}])
    before = calls(calls_file)
    with ThreadPoolExecutor(9) as pool:
        blocker = pool.submit(predict, four_workers, [{"x": 0.0, "gate": 1}])
        wait_until(lambda: calls(calls_file) == [*before, 1], what="the gated predict to start")
        futures = [pool.submit(predict, four_workers, row) for row in rows]  # type: ignore[arg-type]
        wait_until(lambda: queued(four_workers) == 8, what="8 requests queued in the runner")
        gate_open(calls_file)
        blocker.result()
        results = [f.result() for f in futures]
    statuses = [r.status_code for r in results]
    assert statuses == [200, 200, 200, 400, 200, 200, 200, 200]
    assert "x" in results[3].json()["message"]
    good = [r.json()["predictions"][0]["y"] for r in results if r.status_code == 200]
    assert good == [2.0 * i for i in range(7)]


def run_load(server: Server, stop: threading.Event, clients: int = 16) -> list[httpx.Response]:
    """Closed-loop load from ``clients`` threads until ``stop`` is set."""
    responses: list[httpx.Response] = []
    lock = threading.Lock()

    def loop(i: int) -> None:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            while not stop.is_set():
                response = client.post("/invocations", json={"dataframe_records": [{"x": 1.0}]})
                with lock:
                    responses.append(response)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    stop.wait()
    for thread in threads:
        thread.join(130)
        assert not thread.is_alive(), "a client hung"
    return responses


def test_runner_killed_under_load_fails_fast_and_recovers(four_workers: Server) -> None:
    old = four_workers.runner_pid()
    stop = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        load = pool.submit(run_load, four_workers, stop)
        wait_until(lambda: calls_seen(four_workers), what="the load to reach the model")
        os.kill(old, signal.SIGKILL)
        wait_until(lambda: four_workers.runner_pid() != old, what="a new runner")
        four_workers.wait_ready()
        # ready through one worker means every worker predicts: a worker that is
        # between reconnect attempts reconnects at once instead of answering 503
        after = predict(four_workers, [{"x": 2.0}])
        stop.set()
        responses = load.result()
    assert after.status_code == 200 and after.headers["x-model-version"] == "1"
    codes = {r.status_code for r in responses}
    assert codes <= {200, 503}, codes
    errors = {r.json()["error_code"] for r in responses if r.status_code == 503}
    # in-flight requests failed at once (RUNNER_UNAVAILABLE), never waited for their deadline
    assert errors <= {"RUNNER_UNAVAILABLE", "MODEL_NOT_AVAILABLE"}, errors
    assert 200 in codes
    # readiness went false while the runner was replaced, and came back
    assert "starting a new one" in four_workers.log()


def calls_seen(server: Server) -> bool:
    return bool(server.client.get("/model").json()["runner"]["batches"] > 0)


def test_native_crash_in_predict_is_a_503_and_the_runner_comes_back(
    four_workers: Server,
) -> None:
    old = four_workers.runner_pid()
    response = predict(four_workers, [{"x": 1.0, "crash": 1}])
    assert response.status_code == 503
    assert response.json()["error_code"] == "RUNNER_UNAVAILABLE"
    wait_until(lambda: four_workers.runner_pid() != old, what="a new runner")
    four_workers.wait_ready()
    assert predict(four_workers, [{"x": 1.0}]).status_code == 200


def test_predict_that_hangs_gets_504_and_the_runner_is_replaced(
    registry: tuple[Path, Path],
) -> None:
    home, _ = registry
    server = Server(
        home,
        "--model", "models:/rec@production",
        "--workers", "2",
        "--request-timeout", "2",
        "--predict-hang-timeout", "3",
        *FAST_SUPERVISION,
    )  # fmt: skip
    try:
        server.wait_ready()
        old = server.runner_pid()
        hung = predict(server, [{"x": 1.0, "sleep": -1}])
        assert hung.status_code == 504
        assert hung.json()["error_code"] == "DEADLINE_EXCEEDED"
        assert "request_timeout" in hung.json()["message"]
        wait_until(lambda: server.runner_pid() != old, what="the hung runner to be replaced")
        assert "predict hung" in server.log()
        server.wait_ready()
        response = predict(server, [{"x": 4.0}])
        assert response.status_code == 200
        assert response.json() == {"predictions": [{"y": 8.0}]}
    finally:
        server.stop(signal.SIGKILL)


def test_dead_http_worker_is_replaced(four_workers: Server) -> None:
    runner = four_workers.runner_pid()
    workers = sorted(pid for pid in four_workers.children().values() if pid != runner)
    os.kill(workers[0], signal.SIGKILL)

    def replaced() -> bool:
        now = {pid for pid in four_workers.children().values() if pid != runner}
        return len(now) == 4 and workers[0] not in now

    wait_until(replaced, what="a replacement worker")
    with ThreadPoolExecutor(8) as pool:
        statuses = set(pool.map(lambda _: predict(four_workers, [{"x": 1.0}]).status_code,
                                range(40)))  # fmt: skip
    assert statuses == {200}


def test_sigterm_answers_every_request_in_flight_then_exits_zero(
    registry: tuple[Path, Path],
) -> None:
    home, calls_file = registry
    calls_file.unlink(missing_ok=True)
    Path(f"{calls_file}.gate").unlink(missing_ok=True)
    server = Server(home, "--model", "models:/rec@production", "--workers", "2")
    server.wait_ready()
    before = calls(calls_file)
    with ThreadPoolExecutor(6) as pool:
        blocker = pool.submit(predict, server, [{"x": 0.0, "gate": 1}])
        wait_until(lambda: calls(calls_file) == [*before, 1], what="the gated predict to start")
        followers = [pool.submit(predict, server, [{"x": float(i)}]) for i in range(5)]
        wait_until(lambda: queued(server) == 5, what="5 requests queued")
        server.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: "draining" in server.log(), what="the drain to start")
        gate_open(calls_file)
        results = [blocker.result(), *(f.result() for f in followers)]
    assert [r.status_code for r in results] == [200] * 6
    assert server.proc.wait(60) == 0
    assert server.stop() == 0


def test_frozen_http_worker_misses_pings_and_is_replaced(four_workers: Server) -> None:
    runner = four_workers.runner_pid()
    frozen = sorted(pid for pid in four_workers.children().values() if pid != runner)[0]
    os.kill(frozen, signal.SIGSTOP)  # alive to is_alive(), but its event loop is stopped

    def replaced() -> bool:
        now = {pid for pid in four_workers.children().values() if pid != runner}
        return len(now) == 4 and frozen not in now

    wait_until(replaced, what="the frozen worker to be replaced")
    assert "did not answer a ping" in four_workers.log()
    assert predict(four_workers, [{"x": 1.0}]).status_code == 200

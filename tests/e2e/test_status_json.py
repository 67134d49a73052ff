"""/status.json with real processes: totals over every worker, a history that outlives the
processes that wrote it, why no model is served, and the Grafana dashboard's metrics."""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from support import (
    MODELS,
    ROOT,
    Server,
    register_code_model,
    register_recorder,
    serving,
    wait_until,
)
from warmserve.settings import Settings

WORKERS = 3


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("status-json") / "home"
    register_recorder(Settings(home=home), "m")
    with serving(
        home, "--model", "models:/m@production", "--workers", str(WORKERS), "--cache", "local",
        "--status-interval", "1", "--ping-interval", "0.2",
    ) as server:  # fmt: skip
        yield server


def status(server: Server) -> dict[str, Any]:
    return dict(server.client.get("/status.json").json())


def kinds(view: dict[str, Any]) -> list[str]:
    return [entry["kind"] for entry in view["history"]]


def predictions_in_charts(charts: dict[str, Any]) -> float:
    """Requests counted by the 2xx series: rate x interval, summed (the first point has no
    known interval; the test sends nothing before it)."""
    times, rates = charts["time"], charts["requests_per_second"]["2xx"]
    steps = zip(times, times[1:], rates[1:], strict=False)
    return sum(rate * (t - before) for before, t, rate in steps)


def test_numbers_are_totals_over_every_worker(served: Server) -> None:
    """Every request on its own connection, so the workers share them; the charts and the
    totals count all of them whichever worker answers /status.json."""
    wait_until(lambda: len(status(served)["charts"]["time"]) >= 2, 60, what="two samples")
    sent = 90

    def call(index: int) -> int:
        body = {"dataframe_split": {"columns": ["x"], "data": [[float(index)]]}}
        return httpx.post(f"{served.url}/invocations", json=body, timeout=60).status_code

    with ThreadPoolExecutor(9) as pool:
        assert list(pool.map(call, range(sent))) == [200] * sent

    def counted() -> bool:
        return abs(predictions_in_charts(status(served)["charts"]) - sent) < 0.5

    wait_until(counted, 60, what=f"the charts to count {sent} predictions")
    for _ in range(2 * WORKERS):  # fresh connections: answered by different workers alike
        view = httpx.get(f"{served.url}/status.json", timeout=30).json()
        assert view["totals"]["predictions_served"] == sent
        assert abs(predictions_in_charts(view["charts"]) - sent) < 0.5
        assert view["page"]["workers"] == WORKERS


def test_the_history_outlives_the_processes_that_wrote_it(served: Server) -> None:
    before = status(served)
    assert kinds(before)[-2:] == ["swap", "started"]
    os.kill(served.runner_pid(), signal.SIGKILL)
    served.wait_ready()
    wait_until(lambda: "resumed" in kinds(status(served)), 60, what="the resume")
    view = status(served)
    assert kinds(view)[:2] == ["resumed", "restart"]
    restart = view["history"][1]
    assert restart["role"] == "runner" and "exited with -9" in restart["summary"]
    assert view["history"][2:] == before["history"]  # nothing before the restart was lost

    worker = next(pid for pid in served.children().values() if pid != served.runner_pid())
    os.kill(worker, signal.SIGKILL)
    wait_until(lambda: kinds(status(served))[0] == "restart", 60, what="the worker's restart")
    after = status(served)
    assert after["history"][0]["role"] == "http"
    assert after["history"][1:] == view["history"]
    assert after["charts"]["time"][: len(view["charts"]["time"])] == view["charts"]["time"]


def test_every_promql_of_the_dashboard_names_a_metric_the_server_exports(served: Server) -> None:
    """Runs after the restarts above, so warmserve_process_restarts_total exists too."""
    body = {"dataframe_records": [{"x": 1.0}]}
    for _ in range(3):  # a miss, then hits: the cache's events exist
        assert served.client.post("/invocations", json=body).status_code == 200
    exported: set[str] = set()
    for family in text_string_to_metric_families(served.client.get("/metrics").text):
        exported.update(sample.name for sample in family.samples)
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "warmserve.json").read_text())
    named = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for metric in re.findall(r"\bwarmserve_[a-z_]+\b", target["expr"]):
                named.add(metric)
                assert metric in exported, (panel["title"], metric, sorted(exported))
    assert len(named) >= 10


def test_a_version_that_fails_to_load_is_kept_out_and_the_page_says_why(tmp_path: Path) -> None:
    home = tmp_path / "home"
    register_code_model(Settings(home=home), "b", MODELS / "broken.py", input_example={"x": [1.0]})
    server = Server(home, "--model", "models:/b@production", "--load-retry-interval", "0.3")
    try:

        def failed_twice() -> dict[str, Any] | None:
            view = status(server)
            kept = [e for e in view["history"] if e["kind"] == "kept_out"]
            return view if kept and kept[0]["attempts"] >= 2 else None

        view = wait_until(failed_twice, 120, what="two failed attempts")
        assert view["availability"]["reason"] == "load_failed"
        assert "this version is broken" in view["availability"]["message"]
        kept = [e for e in view["history"] if e["kind"] == "kept_out"]
        assert len(kept) == 1, "repeated attempts at one version are one entry"
        assert kept[0]["version"] == "1" and kept[0]["since"] <= kept[0]["time"]
        assert view["form"] is None and view["model"] is None
    finally:
        server.stop()

"""/metrics and /model totals are summed over every worker and the model process."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from support import Server, register_recorder, samples, value, wait_until
from warmserve.settings import Settings


def test_metrics_count_every_request_across_four_workers(tmp_path: Path) -> None:
    home = tmp_path / "home"
    register_recorder(Settings(home=home), "m")
    server = Server(
        home, "--model", "models:/m@production", "--workers", "4", "--ping-interval", "0.2"
    )
    try:
        server.wait_ready()
        sent_ok, sent_bad = 120, 7

        def call(i: int) -> int:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                body = {"dataframe_records": [{"x": float(i)}]}
                return client.post("/invocations", json=body).status_code

        with ThreadPoolExecutor(12) as pool:
            statuses = list(pool.map(call, range(sent_ok)))
        assert statuses == [200] * sent_ok
        for _ in range(sent_bad):
            assert server.client.post("/invocations", content=b"{").status_code == 415
        for _ in range(3):
            assert server.client.post("/predict", json={"x": 1.0}).status_code == 200

        found = samples(server)
        assert value(found, "warmserve_requests_total", route="/invocations", status="200") == 120
        assert value(found, "warmserve_requests_total", route="/invocations", status="415") == 7
        assert value(found, "warmserve_requests_total", route="/predict", status="200") == 3
        latency = value(found, "warmserve_request_duration_seconds_count", route="/invocations")
        assert latency == 127
        # every predicted row went through a batch (+1 row: the warm-up is not a batch)
        rows = value(found, "warmserve_batch_rows_sum")
        assert rows == 123
        assert value(found, "warmserve_model_info", name="m", version="1") == 1
        assert value(found, "warmserve_reload_attempts_total") == 1
        assert value(found, "warmserve_in_flight_requests") == 1  # this /metrics request

        totals = server.client.get("/model").json()["totals"]
        assert totals["predictions_served"] == 123

        os.kill(server.runner_pid(), signal.SIGKILL)
        wait_until(
            lambda: value(samples(server), "warmserve_process_restarts_total", role="runner") == 1,
            what="the restart to be counted",
        )
        server.wait_ready()
        # counters of the dead runner survive it
        assert value(samples(server), "warmserve_batch_rows_sum") >= 123
    finally:
        assert server.stop() == 0

"""`warmserve stack` as a user runs it: start, send data, predict, SIGTERM, nothing left."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from support import (
    CHURN_ROW,
    churn_csv,
    free_port,
    processes_mentioning,
    wait_prediction,
    wait_until,
)

pytestmark = pytest.mark.slow
TOKEN = "stack-test-token"


def test_stack_starts_trains_from_data_serves_and_stops_cleanly(tmp_path: Path) -> None:
    home = tmp_path / "stack-home"
    ports = {"port": free_port(), "trainer": free_port(), "mlflow": free_port()}
    log_path = tmp_path / "stack.log"
    env = {**os.environ, "WARMSERVE_ADMIN_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    with open(log_path, "wb") as log:
        stack = subprocess.Popen(
            [
                sys.executable, "-m", "warmserve", "stack", "--home", str(home),
                "--name", "churn", "--target", "churned",
                "--port", str(ports["port"]), "--trainer-port", str(ports["trainer"]),
                "--mlflow-port", str(ports["mlflow"]),
            ],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
        )  # fmt: skip
    try:
        wait_until(
            lambda: "warmserve stack is up" in log_path.read_text() or stack.poll() is not None,
            240, interval=0.2, what="the stack to come up",
        )  # fmt: skip
        text = log_path.read_text()
        assert stack.poll() is None, text
        api = f"http://127.0.0.1:{ports['port']}"
        trainer = f"http://127.0.0.1:{ports['trainer']}"
        assert f"API            {api}" in text and f"trainer        {trainer}" in text
        hint = re.search(r"curl -X POST (\S+)/data", text)
        assert hint and hint.group(1) == trainer
        for part in ("[mlflow ]", "[api    ]", "[trainer]"):
            assert part in text  # every part's log is there, prefixed

        sent = httpx.post(
            f"{trainer}/data", content=churn_csv(600, seed=1),
            headers={"Content-Type": "text/csv", "Authorization": f"Bearer {TOKEN}"},
        )  # fmt: skip
        assert sent.status_code == 202, sent.text

        answer = wait_prediction(api, CHURN_ROW, 180, f"a prediction\n{_tail(log_path)}")
        assert answer.headers["x-model-version"] == "1"
        assert answer.json()["predictions"][0] in (0, 1)
        job = httpx.get(f"{trainer}/jobs/{sent.json()['id']}").json()
        assert job["decision"]["decision"] == "promoted"

        stack.send_signal(signal.SIGTERM)
        assert stack.wait(90) == 0, _tail(log_path)
        assert processes_mentioning(str(home)) == [], _tail(log_path)
        text = log_path.read_text()
        assert "trainer stopped (exit code 0)" in text and "api stopped (exit code 0)" in text
    finally:
        if stack.poll() is None:
            stack.kill()
            stack.wait(10)
        for pid in processes_mentioning(str(home)):  # only what this test started
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:]

"""The real thing with Docker (opt-in: WARMSERVE_TEST_DOCKER=1, needs root).

Installs Debian's docker.io, starts a private dockerd, builds a debootstrap base image
and stand-ins for postgres and redis (no image registry is reachable here), builds the
warmserve image with no network from a wheelhouse, brings deploy/compose.yaml up,
trains from data sent to the trainer, checks the API answers with that version, stops
the containers (each must exit 0 on SIGTERM) and tears everything down, dockerd too.
Each step's time is printed and written to bench/results/docker.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support import CHURN_ROW, ROOT, churn_csv, free_port, wait_prediction

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(3600),
    pytest.mark.skipif(
        os.environ.get("WARMSERVE_TEST_DOCKER") != "1", reason="set WARMSERVE_TEST_DOCKER=1"
    ),
    pytest.mark.skipif(os.geteuid() != 0, reason="installs and runs dockerd: needs root"),
]
TOKEN = "docker-test-token"
PROJECT = "warmserve-test"


def compose_binary() -> str:
    import compose

    return str(Path(compose.__file__).parent / "docker-compose")


class Steps:
    def __init__(self) -> None:
        self.times: dict[str, float] = {}

    def run(self, name: str, command: list[str], env: dict[str, str], timeout: float) -> str:
        started = time.monotonic()
        result = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
        self.times[name] = round(time.monotonic() - started, 1)
        assert result.returncode == 0, (
            f"{name} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
        return result.stdout

    def mark(self, name: str, started: float) -> None:
        self.times[name] = round(time.monotonic() - started, 1)


@pytest.fixture
def engine() -> Iterator[dict[str, str]]:
    env = {**os.environ}
    try:
        started = subprocess.run(
            ["bash", "scripts/docker-engine.sh", "start"], cwd=ROOT, capture_output=True,
            text=True, timeout=600,
        )  # fmt: skip
        if started.returncode != 0:
            pytest.skip(f"no Docker engine on this machine: {started.stderr[-500:]}")
        env["DOCKER_HOST"] = started.stdout.strip().split("=", 1)[1]
        yield env
    finally:
        subprocess.run(["bash", "scripts/docker-engine.sh", "stop"], cwd=ROOT, timeout=300)


def test_compose_up_trains_from_data_and_serves_that_version(engine: dict[str, str]) -> None:
    steps = Steps()
    ports = {"api": free_port(), "trainer": free_port(), "mlflow": free_port()}
    env = {
        **engine,
        "WARMSERVE_ADMIN_TOKEN": TOKEN,
        "WARMSERVE_PORT": str(ports["api"]),
        "WARMSERVE_TRAINER_PORT": str(ports["trainer"]),
        "WARMSERVE_MLFLOW_PORT": str(ports["mlflow"]),
        "WARMSERVE_POSTGRES_IMAGE": "local/postgres-standin",
        "WARMSERVE_REDIS_IMAGE": "local/redis-standin",
    }
    compose = [compose_binary(), "-f", "deploy/compose.yaml", "-p", PROJECT]
    steps.run("base images (debootstrap, cached)", ["bash", "scripts/docker-images.sh"], env, 1800)
    steps.run("wheelhouse", ["bash", "scripts/docker-wheelhouse.sh"], env, 1200)
    steps.run(
        "docker build --network none",
        ["docker", "build", "--network", "none", "-q", "-t", "warmserve:latest",
         "--build-arg", "BASE_IMAGE=local/bookworm-python:3.11", "."],
        env, 1800,
    )  # fmt: skip
    try:
        up = time.monotonic()
        steps.run("compose up -d (health-gated)", [*compose, "up", "-d", "--wait"], env, 900)
        api = f"http://127.0.0.1:{ports['api']}"
        trainer = f"http://127.0.0.1:{ports['trainer']}"
        assert httpx.get(f"{api}/health/live").status_code == 200
        assert httpx.get(f"{trainer}/health/ready").status_code == 200
        steps.mark("up -> all healthy", up)

        sent_at = time.monotonic()
        sent = httpx.post(
            f"{trainer}/data", content=churn_csv(600, seed=1),
            headers={"Content-Type": "text/csv", "Authorization": f"Bearer {TOKEN}"},
        )  # fmt: skip
        assert sent.status_code == 202, sent.text

        answer = wait_prediction(api, CHURN_ROW, 300, "the API to serve version 1")
        steps.mark("data sent -> API answers with the new version", sent_at)
        assert answer.headers["x-model-version"] == "1"
        job = httpx.get(f"{trainer}/jobs/{sent.json()['id']}").json()
        assert job["state"] == "registered" and job["decision"]["decision"] == "promoted"

        stop = time.monotonic()
        steps.run("compose stop", [*compose, "stop", "-t", "30"], env, 300)
        steps.mark("stop (SIGTERM to every PID 1)", stop)
        for service in ("mlflow", "api", "trainer"):
            ids = steps.run(f"ps {service}", [*compose, "ps", "-a", "-q", service], env, 60)
            state = json.loads(
                steps.run(f"inspect {service}", ["docker", "inspect", ids.split()[0]], env, 60)
            )[0]["State"]
            assert state["ExitCode"] == 0, (service, state)  # exited on SIGTERM, not killed
            user = steps.run(
                f"user {service}",
                ["docker", "inspect", "-f", "{{.Config.User}}", ids.split()[0]], env, 60,
            )  # fmt: skip
            assert user.strip().split(":")[0] == "10001"
    finally:
        logs = subprocess.run([*compose, "logs", "--no-color"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
        (ROOT / "bench" / "results" / "docker-compose.log").write_text(logs.stdout + logs.stderr)
        subprocess.run([*compose, "down", "-v", "-t", "30"], cwd=ROOT, env=env, timeout=300)
    for step in [k for k in steps.times if k.startswith(("ps ", "inspect ", "user "))]:
        del steps.times[step]
    print("\n" + "\n".join(f"{seconds:8.1f} s  {name}" for name, seconds in steps.times.items()))
    record = {"at": time.strftime("%FT%T"), "seconds": steps.times}
    (ROOT / "bench" / "results" / "docker.json").write_text(json.dumps(record, indent=2))

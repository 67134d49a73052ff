"""The trainer's HTTP app in-process: the admin rule, limits and error answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from pydantic import SecretStr
from starlette.types import ASGIApp

from warmserve.settings import Settings
from warmserve.trainer.app import create_app
from warmserve.trainer.batches import BatchStore
from warmserve.trainer.inbox import Inbox
from warmserve.trainer.intake import Intake
from warmserve.trainer.run import Outcome
from warmserve.trainer.service import TrainerService
from warmserve.trainer.state import Batch, Journal

CSV = b"x,y\n" + b"".join(b"%d,%d\n" % (i, i % 2) for i in range(20))
AUTH = {"Authorization": "Bearer s3cret"}


class AppClient:
    """Synchronous calls into the ASGI app in-process (httpx's ASGI transport)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://trainer") as c:
                return await c.request(method, url, **kwargs)

        return anyio.run(call)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)


def no_training(pending: list[Batch]) -> Outcome:
    raise AssertionError("the app must not train inline")


@pytest.fixture
def client(tmp_path: Path) -> AppClient:
    settings = Settings(
        home=tmp_path, trainer_name="m", trainer_target="y",
        admin_token=SecretStr("s3cret"), trainer_max_body_bytes=4096,
    )  # fmt: skip
    journal = Journal(tmp_path / "journal.json")
    service = TrainerService(
        journal,
        Intake(journal, BatchStore(tmp_path / "accepted"), "y"),
        Inbox(tmp_path / "inbox", 1.0, 60.0),
        no_training,
        scan_interval=1.0,
        retry_interval=1.0,
    )
    return AppClient(create_app(settings, service))


def test_accepted_data_answers_202_and_the_job_is_listed(client: AppClient) -> None:
    answer = client.post("/data", content=CSV, headers={**AUTH, "Content-Type": "text/csv"})
    assert answer.status_code == 202
    job_id = answer.json()["id"]
    assert answer.json()["state"] == "queued" and answer.json()["rows"] == 20
    assert client.get(f"/jobs/{job_id}").json()["state"] == "queued"
    assert [j["id"] for j in client.get("/jobs").json()["jobs"]] == [job_id]
    records = [{"x": 1, "y": 0}, {"x": 2, "y": 1}]
    assert client.post("/data", json=records, headers=AUTH).status_code == 202


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong", "Basic s3cret", "Bearer s3crét", "Bearer \u2603", "s3cret"],
)
def test_post_without_the_token_is_401(client: AppClient, header: str | None) -> None:
    headers = {"Content-Type": "text/csv"}
    if header is not None:
        headers["Authorization"] = header
    answer = client.post("/data", content=CSV, headers={k: v.encode() for k, v in headers.items()})
    assert answer.status_code == 401
    assert answer.json()["error_code"] == "UNAUTHORIZED"
    assert client.get("/jobs").json()["jobs"] == []


def test_limits_and_bad_requests_get_clear_answers(client: AppClient) -> None:
    big = b"x,y\n" + b"1,0\n" * 2000
    too_large = client.post("/data", content=big, headers={**AUTH, "Content-Type": "text/csv"})
    assert too_large.status_code == 413 and too_large.json()["error_code"] == "PAYLOAD_TOO_LARGE"
    media = client.post("/data", content=CSV, headers={**AUTH, "Content-Type": "image/png"})
    assert media.status_code == 415
    rejected = client.post("/data", content=b"x\n1\n", headers={**AUTH, "Content-Type": "text/csv"})
    assert rejected.status_code == 400 and "target column 'y' is missing" in rejected.text
    assert client.get("/jobs/nope").status_code == 404
    assert client.get("/nowhere").json()["error_code"] == "NOT_FOUND"
    assert client.get("/data").status_code == 405


def test_health_and_status(client: AppClient) -> None:
    assert client.get("/health/live").status_code == 200
    assert client.get("/health/ready").status_code == 503  # loops not started
    status = client.get("/status").json()
    assert status["model"] == "m" and status["mode"] == "append"

"""The trainer's jobs on the status page. The trainer is a separate service (issue 9); here
its HTTP answers come from httpx.MockTransport (in process), and tests/e2e/test_status_page.py
uses a tiny fake trainer HTTP server on a real socket."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from warmserve.http.trainer_jobs import MAX_BYTES, TrainerJobs, jobs_view

JOB = {
    "id": "7f3a",
    "state": "registered",
    "source": "http",
    "created": 1_800_000_000.0,
    "updated": 1_800_000_060.5,
    "rows": 150,
    "reason": None,
    "version": "4",
    "run_id": "r1",
    "metrics": {"challenger": {"accuracy": 0.97}, "champion": {"accuracy": 0.95}},
    "decision": {"decision": "promote", "rule": "accuracy >= champion", "promoted": True},
    "batch": "ignored",
}


def trainer(handler: Any, **kwargs: Any) -> TrainerJobs:
    url = "http://trainer:8100/"
    return TrainerJobs(url, url, transport=httpx.MockTransport(handler), **kwargs)


def test_jobs_are_reduced_to_what_the_page_shows() -> None:
    (job,) = jobs_view({"jobs": [JOB, "not a job", {"no": "id"}]})
    assert job["id"] == "7f3a" and job["state"] == "registered" and job["version"] == "4"
    assert job["created"] == "2027-01-15T08:00:00+00:00"
    assert job["metrics"] == {"challenger.accuracy": 0.97, "champion.accuracy": 0.95}
    assert job["decision"] == {"decision": "promote", "rule": "accuracy >= champion",
                               "promoted": True}  # fmt: skip
    assert "batch" not in job
    assert jobs_view([JOB]) == jobs_view({"jobs": [JOB]})  # a bare list works too


def test_fetched_once_per_ttl_and_shared_by_concurrent_polls() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(200, json={"jobs": [JOB]})

    now = [0.0]
    jobs = trainer(handler, clock=lambda: now[0])

    async def main() -> None:
        views = await asyncio.gather(*(jobs.view() for _ in range(5)))
        assert all(v["jobs"][0]["id"] == "7f3a" and v["error"] is None for v in views)
        now[0] = 4.0
        await jobs.view()
        now[0] = 6.0
        await jobs.view()

    asyncio.run(main())
    assert calls == ["http://trainer:8100/jobs"] * 2


def test_credentials_in_the_trainer_url_are_never_shown() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url}")

    jobs = TrainerJobs(
        "http://ops:pw@trainer:8100", "http://trainer:8100", transport=httpx.MockTransport(refuse)
    )
    view = asyncio.run(jobs.view())
    assert "pw" not in str(view) and view["url"] == "http://trainer:8100/jobs"


def test_every_failure_is_an_error_line_never_an_exception() -> None:
    def answer(response: httpx.Response) -> object:
        return lambda request: response

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(10)
        return httpx.Response(200, json=[])

    cases = {
        "cannot reach the trainer: ConnectError": refuse,
        "GET /jobs answered 500": answer(httpx.Response(500, text="oops")),
        "unexpected answer": answer(httpx.Response(200, content=b"<html>")),
        "no list of jobs": answer(httpx.Response(200, json={"jobs": 3})),
        f"exceeds {MAX_BYTES} bytes": answer(httpx.Response(200, content=b" " * (MAX_BYTES + 1))),
        "did not answer within 0.2 s": slow,
    }
    for words, handler in cases.items():
        view = asyncio.run(trainer(handler, timeout=0.2).view())
        assert words in view["error"], (words, view)
        assert view["jobs"] == [] and view["url"] == "http://trainer:8100/jobs"

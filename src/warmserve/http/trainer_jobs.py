"""The trainer's recent jobs for the status page (``--trainer-url``).

Fetched by the worker from the trainer's ``GET /jobs`` with a short deadline
and a size bound, at most once per ``ttl`` seconds (concurrent polls share one
fetch), and reduced to plain scalars: a trainer that is down, slow or answers
something unexpected shows up as an error line on the page, never as a
broken page or a stuck request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from warmserve.http.views import iso

TIMEOUT = 2.0  # seconds for the whole fetch
TTL = 5.0  # seconds a fetched list is reused
MAX_BYTES = 1024 * 1024
MAX_JOBS = 20
MAX_TEXT = 500
JOB_FIELDS = ("id", "state", "source", "rows", "version", "run_id", "reason")
TIME_FIELDS = ("created", "updated")


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    text = str(value)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _flat(value: Any, prefix: str = "", depth: int = 0) -> dict[str, Any]:
    """Nested metrics ({"challenger": {"accuracy": 0.9}}) as {"challenger.accuracy": 0.9}."""
    if not isinstance(value, dict) or depth > 3:
        return {prefix: _scalar(value)} if prefix else {}
    found: dict[str, Any] = {}
    for key, item in list(value.items())[:50]:
        found.update(_flat(item, f"{prefix}.{key}" if prefix else str(key), depth + 1))
    return found


def job_view(job: Any) -> dict[str, Any] | None:
    if not isinstance(job, dict) or "id" not in job:
        return None
    view = {name: _scalar(job.get(name)) for name in JOB_FIELDS}
    for name in TIME_FIELDS:
        when = job.get(name)
        if isinstance(when, int | float) and not isinstance(when, bool) and 0 < when < 1e11:
            view[name] = iso(when)
        else:
            view[name] = _scalar(when)
    view["metrics"] = _flat(job.get("metrics"))
    decision = job.get("decision")
    view["decision"] = _flat(decision) if isinstance(decision, dict) else _scalar(decision)
    return view


def jobs_view(body: Any) -> list[dict[str, Any]]:
    """The trainer's answer (``{"jobs": [...]}``, newest first, or a bare list)."""
    jobs = body.get("jobs") if isinstance(body, dict) else body
    if not isinstance(jobs, list):
        raise ValueError("the trainer's /jobs answer has no list of jobs")
    found = (job_view(job) for job in jobs[:MAX_JOBS])
    return [job for job in found if job is not None]


class TrainerJobs:
    def __init__(
        self,
        url: str,
        shown_url: str,
        timeout: float = TIMEOUT,
        ttl: float = TTL,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url.rstrip("/") + "/jobs"
        self.shown_url = shown_url.rstrip("/") + "/jobs"
        self.timeout = timeout
        self.ttl = ttl
        self.transport = transport
        self.clock = clock
        self._view: dict[str, Any] | None = None
        self._fetched = -float("inf")
        self._lock: asyncio.Lock | None = None

    async def view(self) -> dict[str, Any]:
        """``{"url", "jobs", "error", "fetched_at"}``; never raises."""
        if self._view is not None and self.clock() - self._fetched < self.ttl:
            return self._view
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._view is None or self.clock() - self._fetched >= self.ttl:
                self._view = await self._fetch()
                self._fetched = self.clock()
        return self._view

    async def _fetch(self) -> dict[str, Any]:
        view: dict[str, Any] = {
            "url": self.shown_url,
            "jobs": [],
            "error": None,
            "fetched_at": iso(time.time()),
        }
        try:
            body = await asyncio.wait_for(self._get(), self.timeout)
            view["jobs"] = jobs_view(orjson.loads(body))
        except TimeoutError:
            view["error"] = f"the trainer did not answer within {self.timeout:g} s"
        except httpx.HTTPError as exc:
            detail = str(exc).replace(self.url, self.shown_url)  # never show credentials
            view["error"] = f"cannot reach the trainer: {type(exc).__name__}: {detail}"
        except (ValueError, orjson.JSONDecodeError) as exc:
            view["error"] = f"unexpected answer from the trainer: {exc}"
        return view

    async def _get(self) -> bytes:
        client = httpx.AsyncClient(timeout=self.timeout, transport=self.transport)
        async with client, client.stream("GET", self.url) as response:
            if response.status_code != 200:
                raise ValueError(f"GET /jobs answered {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BYTES:
                    raise ValueError(f"the answer exceeds {MAX_BYTES} bytes")
            return bytes(body)

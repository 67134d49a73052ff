"""The trainer's small HTTP app: POST /data, GET /jobs, GET /jobs/{id}, health, status.

Plain Starlette; the training code never sees a request. POST /data follows the
API's admin rule (``Authorization: Bearer <WARMSERVE_ADMIN_TOKEN>``, 401
otherwise), refuses bodies over the limit (413) and unknown media types (415), and
answers 202 with the job id, or 400 with the reason when the data is rejected.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from warmserve.auth import bearer_token_matches
from warmserve.bodies import read_limited
from warmserve.errors import (
    BadRequest,
    ModelNotAvailable,
    Unauthorized,
    UnsupportedMediaType,
    WarmserveError,
)
from warmserve.settings import Settings
from warmserve.trainer.batches import CONTENT_TYPES, kind_of_content_type
from warmserve.trainer.service import TrainerService
from warmserve.trainer.state import JobState

log = logging.getLogger("warmserve.trainer")
JSON = "application/json"


def json_response(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status, media_type=JSON)


def error_response(error: WarmserveError) -> Response:
    return json_response(error.to_dict(), error.status)


def create_app(settings: Settings, service: TrainerService) -> Starlette:
    limit = settings.trainer_max_body_bytes

    async def post_data(request: Request) -> Response:
        if not bearer_token_matches(request.headers.get("authorization"), settings.admin_token):
            raise Unauthorized(
                "POST /data requires 'Authorization: Bearer <WARMSERVE_ADMIN_TOKEN>'"
            )
        kind = kind_of_content_type(request.headers.get("content-type"))
        if kind is None:
            types = ", ".join(CONTENT_TYPES)
            raise UnsupportedMediaType(f"send the data as one of: {types}")
        declared = request.headers.get("content-length")
        body = await read_limited(request.stream(), declared, limit)
        job = await run_in_threadpool(service.submit, body, kind, "http")
        if job.state is JobState.REJECTED:
            raise BadRequest(f"data rejected (job {job.id}): {job.reason}")
        return json_response({"id": job.id, "state": job.state, "rows": job.rows}, 202)

    async def list_jobs(request: Request) -> Response:
        return json_response({"jobs": [job.to_dict() for job in service.journal.list_jobs()]})

    async def get_job(request: Request) -> Response:
        return json_response(service.journal.job(request.path_params["job_id"]).to_dict())

    async def live(request: Request) -> Response:
        return json_response({"status": "alive"})

    async def ready(request: Request) -> Response:
        if not service.alive():
            raise ModelNotAvailable("the trainer's loops are not running")
        return json_response({"status": "ready"})

    async def status(request: Request) -> Response:
        journal = service.journal
        return json_response(
            {
                "model": settings.trainer_name,
                "target": settings.trainer_target,
                "mode": settings.trainer_mode,
                "alias": settings.trainer_alias,
                "task": journal.task,
                "columns": journal.columns,
                "inbox": str(service.inbox.folder),
                "inbox_scans": service.inbox.scans,
                "inbox_waiting": service.inbox.waiting(),
                "pending_batches": len(journal.pending()),
                "accepted_batches": len(journal.accepted()),
                "training_runs": service.runs,
            }
        )

    app = Starlette(
        routes=[
            Route("/data", post_data, methods=["POST"]),
            Route("/jobs", list_jobs, methods=["GET"]),
            Route("/jobs/{job_id}", get_job, methods=["GET"]),
            Route("/health/live", live, methods=["GET"]),
            Route("/health/ready", ready, methods=["GET"]),
            Route("/status", status, methods=["GET"]),
        ],
        exception_handlers={
            WarmserveError: _domain_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )
    return app


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WarmserveError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error = WarmserveError(f"no route {request.method} {request.url.path}")
        error.status, error.error_code = 404, "NOT_FOUND"
    else:
        error = WarmserveError(str(exc.detail))
        error.status = exc.status_code
        error.error_code = "METHOD_NOT_ALLOWED" if exc.status_code == 405 else "HTTP_ERROR"
    return error_response(error)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(WarmserveError(f"internal error: {type(exc).__name__}"))

"""The FastAPI app of one HTTP worker: thin routes over the runner client.

Routes decode, call one function, encode. Every failure is a WarmserveError
mapped by the single handler below to ``{"error_code", "message"}``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from multiprocessing.connection import Connection
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp

from warmserve import __version__
from warmserve.auth import bearer_token_matches
from warmserve.cache import PredictionCache
from warmserve.errors import (
    BadRequest,
    ModelNotAvailable,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    WarmserveError,
)
from warmserve.heartbeat import answer_pings
from warmserve.http.answers import JSON, error_answer
from warmserve.http.frontend import PredictFrontend
from warmserve.http.observe import MetricsMiddleware
from warmserve.http.service import CacheReporter, PredictionService
from warmserve.ipc.client import RunnerClient
from warmserve.metrics import HttpMetrics, render, totals
from warmserve.settings import Settings

log = logging.getLogger("warmserve.http")


def json_response(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(content), status, headers, media_type=JSON)


def error_response(error: WarmserveError) -> Response:
    answer = error_answer(error)
    return Response(answer.body, answer.status, answer.headers, media_type=JSON)


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is {declared} bytes; the limit is {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"the body exceeds the limit of {limit} bytes")
    return bytes(body)


def create_app(
    settings: Settings,
    client: RunnerClient,
    metrics: HttpMetrics | None = None,
    cache: PredictionCache | None = None,
    liveness: Connection | None = None,
) -> ASGIApp:
    """The FastAPI app, behind the thin front that answers the prediction routes."""
    reporter = CacheReporter(cache, metrics) if cache and metrics else None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await client.start()
        if reporter is not None:
            reporter.start()
        if liveness is not None:
            answer_pings(liveness)
        yield
        await client.close()
        if reporter is not None:
            await reporter.stop()
        if cache is not None:
            await cache.close()

    app = FastAPI(
        title="warmserve",
        version=__version__,
        description="Serves an MLflow model kept warm in a dedicated model process.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    service = PredictionService(settings, client, cache, metrics)
    if metrics is not None:
        app.add_middleware(MetricsMiddleware, metrics=metrics)
    _install_error_handlers(app)
    _install_docs(app)
    limit = settings.max_body_bytes

    @app.get("/health/live", tags=["health"])
    async def live() -> Response:
        return json_response({"status": "alive"})

    @app.get("/health/ready", tags=["health"])
    async def ready() -> Response:
        if client.model is None:
            raise ModelNotAvailable("model is not available", retry_after=1)
        return json_response({"status": "ready", "version": client.model["version"]})

    @app.get("/model", tags=["model"])
    async def model() -> Response:
        state = client.state
        return json_response(
            {
                "ready": client.model is not None,
                "model": client.model,
                **(state.status if state is not None else {"source": settings.model}),
                "runner": await client.ping(timeout=2.0),
                "totals": totals(),
            }
        )

    @app.get("/metrics", tags=["health"])
    async def prometheus() -> Response:
        """Prometheus text format, summed over every worker and the model process."""
        return Response(render(), media_type=CONTENT_TYPE_LATEST)

    # In a worker, POSTs to these two routes are answered by PredictFrontend before
    # FastAPI sees them; these definitions document them and serve the same answer.
    async def prediction(request: Request) -> Response:
        body = await read_body(request, limit)
        answer = await service.answer(request.url.path, body, request.headers.get("content-type"))
        return Response(answer.body, answer.status, answer.headers, media_type=JSON)

    app.add_api_route(
        "/invocations", prediction, methods=["POST"], tags=["predict"],
        summary="MLflow scoring protocol: `mlflow models serve` clients work unchanged",
        openapi_extra=_body_doc(
            {"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2.0]]}}, csv=True
        ),
    )  # fmt: skip
    app.add_api_route(
        "/predict", prediction, methods=["POST"], tags=["predict"],
        summary="One record (a JSON object) or a list of records; answers with the version",
        openapi_extra=_body_doc({"a": 1.0, "b": 2.0}),
    )  # fmt: skip

    @app.api_route("/reload", methods=["POST", "GET"], tags=["admin"])
    async def reload(request: Request, wait: bool = False) -> Response:
        """Check the model source now; `wait=true` answers after the check."""
        _check_admin(settings, request)
        timeout = settings.request_timeout if not wait else max(settings.request_timeout, 600)
        result = await client.reload(wait, timeout)
        return json_response(result, 200 if wait else 202)

    return PredictFrontend(app, service, metrics)


def _body_doc(example: Any, csv: bool = False) -> dict[str, Any]:
    content: dict[str, Any] = {JSON: {"schema": {"type": "object"}, "example": example}}
    if csv:
        content["text/csv"] = {"schema": {"type": "string"}, "example": "a,b\n1.0,2.0\n"}
    return {"requestBody": {"required": True, "content": content}}


def _check_admin(settings: Settings, request: Request) -> None:
    if not bearer_token_matches(request.headers.get("authorization"), settings.admin_token):
        raise Unauthorized("this endpoint requires 'Authorization: Bearer <WARMSERVE_ADMIN_TOKEN>'")


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(WarmserveError)
    async def domain_error(request: Request, exc: WarmserveError) -> Response:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        details = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        return error_response(BadRequest(f"invalid request: {details}"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error_response(NotFound(f"no route {request.method} {request.url.path}"))
        error = WarmserveError(str(exc.detail))
        error.status = exc.status_code
        error.error_code = "METHOD_NOT_ALLOWED" if exc.status_code == 405 else "HTTP_ERROR"
        return error_response(error)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(WarmserveError(f"internal error: {type(exc).__name__}"))


def _install_docs(app: FastAPI) -> None:
    """Swagger UI from the swagger-ui-bundle package: /docs works with no internet."""
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs/static", StaticFiles(directory=str(swagger_ui_path)), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="warmserve API",
            swagger_js_url="/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/docs/static/favicon-32x32.png",
        )

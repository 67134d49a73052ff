"""The ASGI app of one HTTP worker: the thin prediction front over FastAPI.

Routes come from the route table (``http/routes.py``): prediction routes are
answered by the front, the others are registered here by name. Every failure
is a WarmserveError mapped by the single handler below to
``{"error_code", "message"}``, or to the error shape of the path's route (v2:
``{"error"}``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
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
    MethodNotAllowed,
    ModelNotAvailable,
    NotFound,
    Unauthorized,
    WarmserveError,
)
from warmserve.heartbeat import answer_pings
from warmserve.http import openapi
from warmserve.http.answers import JSON, WARMSERVE_ERRORS, ErrorShape, error_headers
from warmserve.http.frontend import PredictFrontend
from warmserve.http.limits import InputLimits
from warmserve.http.observe import MetricsMiddleware
from warmserve.http.routes import PREDICT_ROUTES, ROUTES, RouteTable
from warmserve.http.service import CacheReporter, PredictionService
from warmserve.http.status import StatusPage
from warmserve.http.v2.handlers import v2_handlers
from warmserve.http.views import model_view
from warmserve.ipc.client import RunnerClient
from warmserve.metrics import HttpMetrics, render, totals
from warmserve.protocol import ServedModel
from warmserve.redaction import redact
from warmserve.settings import Settings

log = logging.getLogger("warmserve.http")

TITLE = "warmserve"
DESCRIPTION = "Serves an MLflow model kept warm in a dedicated model process."
RELOAD_WAIT_TIMEOUT = 600.0


def json_response(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(content), status, headers, media_type=JSON)


def error_response(
    error: WarmserveError,
    headers: dict[str, str] | None = None,
    shape: ErrorShape = WARMSERVE_ERRORS,
) -> Response:
    return Response(
        shape.render(error, False),
        error.status,
        {**error_headers(error), **(headers or {})},
        media_type=JSON,
    )


def limits_of(settings: Settings) -> InputLimits:
    return InputLimits(settings.max_rows, settings.max_columns, settings.max_input_depth)


def create_app(
    settings: Settings,
    client: RunnerClient,
    metrics: HttpMetrics | None = None,
    cache: PredictionCache | None = None,
    liveness: Connection | None = None,
) -> ASGIApp:
    """The FastAPI app, behind the thin front that answers the prediction routes."""
    reporter = CacheReporter(cache, metrics) if cache and metrics else None
    table = RouteTable(ROUTES)

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
        title=TITLE,
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    service = PredictionService(settings, client, cache, metrics)
    if metrics is not None:
        app.add_middleware(MetricsMiddleware, metrics=metrics, table=table)
    _install_error_handlers(app, table)
    _install_docs(app, client)
    handlers = _handlers(settings, client)
    for route in ROUTES:
        if route.predict is None:
            app.add_api_route(
                route.path, handlers[route.name], methods=[route.method], include_in_schema=False
            )
    return PredictFrontend(app, service, metrics, table, limits_of(settings))


def _handlers(
    settings: Settings, client: RunnerClient
) -> dict[str, Callable[..., Awaitable[Response]]]:
    """The FastAPI-served routes of the table, by route name."""

    async def live() -> Response:
        return json_response({"status": "alive"})

    def served_or_503() -> ServedModel:
        served = client.served()
        if served is None:
            state = client.state()
            if state is not None and not state.status.healthy:
                raise ModelNotAvailable("the model process is being replaced", retry_after=1)
            raise ModelNotAvailable("model is not available", retry_after=1)
        return served

    async def ready() -> Response:
        return json_response({"status": "ready", "version": served_or_503().version})

    async def ping() -> Response:
        """MLflow's scoring server answers its health checks with a bare newline."""
        served_or_503()
        return Response("\n", media_type="text/plain")

    mlflow_version = installed_mlflow_version()

    async def version() -> Response:
        return Response(mlflow_version, media_type="text/plain")

    async def current_model_view() -> dict[str, Any]:
        pong = await client.ping(timeout=2.0)
        return model_view(
            client.state(), pong, totals([r.path for r in PREDICT_ROUTES]), settings.model, redact
        )

    async def model() -> Response:
        return json_response(await current_model_view())

    async def prometheus() -> Response:
        return Response(render(), media_type=CONTENT_TYPE_LATEST)

    async def reload(request: Request, wait: bool = False) -> Response:
        if not bearer_token_matches(request.headers.get("authorization"), settings.admin_token):
            raise Unauthorized(
                "this endpoint requires 'Authorization: Bearer <WARMSERVE_ADMIN_TOKEN>'"
            )
        timeout = settings.request_timeout if not wait else RELOAD_WAIT_TIMEOUT
        result = await client.reload(wait, timeout)
        body = (
            {"version": result.version, "error": result.error}
            if wait
            else {"version": result.version}
        )
        return json_response(body, 200 if wait else 202)

    return {
        "live": live,
        "ready": ready,
        "ping": ping,
        "health": ping,
        "version": version,
        "model": model,
        "metrics": prometheus,
        "reload": reload,
        "reload_get": reload,
        **v2_handlers(client),
        **StatusPage(settings, client, current_model_view).handlers(),
    }


def installed_mlflow_version() -> str:
    """What MLflow's /version answers, read from package metadata: importing mlflow in an
    HTTP worker would cost seconds and hundreds of MiB."""
    from importlib.metadata import PackageNotFoundError, version

    for distribution in ("mlflow", "mlflow-skinny"):
        try:
            return version(distribution)
        except PackageNotFoundError:
            continue
    return "unknown"


def _install_error_handlers(app: FastAPI, table: RouteTable) -> None:
    def shaped(
        request: Request, error: WarmserveError, headers: dict[str, str] | None = None
    ) -> Response:
        return error_response(error, headers, table.errors(request.url.path))

    @app.exception_handler(WarmserveError)
    async def domain_error(request: Request, exc: WarmserveError) -> Response:
        return shaped(request, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        details = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        return shaped(request, BadRequest(f"invalid request: {details}"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return shaped(request, NotFound(f"no route {request.method} {request.url.path}"))
        if exc.status_code == 405:
            routes, _ = table.candidates(request.url.path)
            allowed = ", ".join(sorted({route.method for route in routes}))
            return shaped(
                request,
                MethodNotAllowed(f"method {request.method} is not allowed on {request.url.path}"),
                {"Allow": allowed} if allowed else dict(exc.headers or {}),
            )
        error = WarmserveError(str(exc.detail))
        error.status = exc.status_code
        error.error_code = "HTTP_ERROR"
        return shaped(request, error, dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return shaped(request, WarmserveError(f"internal error: {type(exc).__name__}"))


def _install_docs(app: FastAPI, client: RunnerClient) -> None:
    """/openapi.json from the route table, and Swagger UI from the swagger-ui-bundle
    package: /docs works with no internet."""
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs/static", StaticFiles(directory=str(swagger_ui_path)), name="docs-static")

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi_json() -> Response:
        document = openapi.document(ROUTES, TITLE, __version__, DESCRIPTION, client.served())
        return json_response(document)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="warmserve API",
            swagger_js_url="/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/docs/static/favicon-32x32.png",
        )

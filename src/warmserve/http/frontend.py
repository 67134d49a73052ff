"""A thin ASGI layer in front of FastAPI for the prediction routes of the route table.

Profiling showed two thirds of an HTTP worker's time per prediction inside
routing and the middleware stack, against a fifth in the endpoint. Prediction
routes are answered here: the body is read once, within the limit; the
route's decoder, the prediction service and the route's envelope do the rest.
Everything else (health, /model, /reload, /docs, lifespan) goes to FastAPI.

A client that disconnects while its prediction is pending cancels it: the
runner drops it before the model works on it.
"""

from __future__ import annotations

import asyncio
import logging
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from warmserve.errors import MethodNotAllowed, PayloadTooLarge, WarmserveError
from warmserve.http.answers import Answer, error_answer
from warmserve.http.limits import InputLimits
from warmserve.http.routes import Route, RouteTable
from warmserve.http.service import PredictionService
from warmserve.metrics import HttpMetrics
from warmserve.process import trim_memory

log = logging.getLogger("warmserve.http")

CLIENT_GONE = 499  # the status recorded for a request whose client left (nginx's convention)
TRIM_AFTER_BYTES = 1024 * 1024
TRIM_EVERY = 1.0  # seconds


class PredictFrontend:
    def __init__(
        self,
        app: ASGIApp,
        service: PredictionService,
        metrics: HttpMetrics | None,
        table: RouteTable,
        limits: InputLimits,
    ) -> None:
        self.app = app
        self.service = service
        self.metrics = metrics
        self.table = table
        self.limits = limits
        self.max_body = service.settings.max_body_bytes
        self.replica = service.settings.replica()
        self.stack_traces = service.settings.expose_stack_traces
        self._trimmed = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        routes, params = self.table.candidates(scope["path"])
        if not routes or any(route.predict is None for route in routes):
            await self.app(scope, receive, send)
            return
        route = next((r for r in routes if r.method == scope["method"]), None)
        started = time.perf_counter()
        metrics = self.metrics
        if metrics is not None:
            metrics.in_flight.inc()
        status = 500
        try:
            if route is None:
                answer: Answer | None = _not_allowed(scope["method"], routes)
            else:
                answer = await self._answer_watching(route, params, scope, receive)
            if answer is None:
                status = CLIENT_GONE
                return
            status = answer.status
            await send(
                {"type": "http.response.start", "status": status, "headers": answer.raw_headers()}
            )
            await send({"type": "http.response.body", "body": answer.body})
        finally:
            if metrics is not None:
                metrics.in_flight.dec()
                metrics.record(routes[0].path, status, time.perf_counter() - started)

    async def _answer_watching(
        self, route: Route, params: dict[str, str], scope: Scope, receive: Receive
    ) -> Answer | None:
        """The answer, or None when the client left before it was ready."""
        body = await self._read_body(scope, receive)
        if isinstance(body, Answer) or body is None:
            return body
        task = asyncio.current_task()
        gone = False

        async def watch() -> None:
            nonlocal gone
            message = await receive()
            if message["type"] == "http.disconnect" and task is not None:
                gone = True
                task.cancel()

        watcher = asyncio.create_task(watch())
        try:
            return await self._answer(route, params, scope, body)
        except asyncio.CancelledError:
            if gone:
                return None
            raise
        finally:
            watcher.cancel()
            if len(body) > TRIM_AFTER_BYTES:
                self._trim()

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | Answer | None:
        limit = self.max_body
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                return error_answer(
                    PayloadTooLarge(f"the body is {int(value)} bytes; the limit is {limit}")
                )
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            if len(body) > limit:
                return error_answer(PayloadTooLarge(f"the body exceeds the limit of {limit} bytes"))
            if not message.get("more_body", False):
                return bytes(body)

    async def _answer(
        self, route: Route, params: dict[str, str], scope: Scope, body: bytes
    ) -> Answer:
        spec = route.predict
        assert spec is not None
        content_type = _header(scope, b"content-type")
        try:
            model_input = spec.decode(body, content_type, self.limits)
            prediction = await self.service.predict(model_input)
        except WarmserveError as exc:
            return error_answer(exc, self._replica(), stack_trace=self.stack_traces)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("unexpected error on %s", route.path)
            return error_answer(WarmserveError("internal error while predicting"), self._replica())
        headers = {"X-Model-Version": prediction.version, **self._replica()}
        if self.service.cache is not None:
            headers["X-Cache"] = "hit" if prediction.cached else "miss"
        return Answer(200, spec.envelope(prediction), headers)

    def _replica(self) -> dict[str, str]:
        return {"X-Replica": self.replica} if self.replica else {}

    def _trim(self) -> None:
        now = time.monotonic()
        if now - self._trimmed >= TRIM_EVERY:
            self._trimmed = now
            trim_memory()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None


def _not_allowed(method: str, routes: list[Route]) -> Answer:
    allowed = ", ".join(sorted({route.method for route in routes}))
    error = MethodNotAllowed(f"method {method} is not allowed here; use {allowed}")
    return error_answer(error, {"Allow": allowed})

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
from dataclasses import replace

from starlette.types import ASGIApp, Receive, Scope, Send

from warmserve.errors import MethodNotAllowed, PayloadTooLarge, WarmserveError
from warmserve.http.answers import Answer, ErrorShape, error_answer
from warmserve.http.exchange import Incoming
from warmserve.http.limits import InputLimits
from warmserve.http.routes import Route, RouteTable
from warmserve.http.service import PredictionService
from warmserve.metrics import HttpMetrics
from warmserve.process import trim_memory

log = logging.getLogger("warmserve.http")

CLIENT_GONE = 499  # the status recorded for a request whose client left (nginx's convention)
WATCH_AFTER = 0.02  # seconds before a pending prediction starts watching for its client
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
        self.replica = service.settings.replica_name
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
        body = await self._read_body(scope, receive, route.errors)
        if isinstance(body, Answer) or body is None:
            return body
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        gone = False
        watcher: asyncio.Task[None] | None = None

        async def watch() -> None:
            nonlocal gone
            message = await receive()
            if message["type"] == "http.disconnect" and task is not None:
                gone = True
                task.cancel()

        def start_watching() -> None:
            nonlocal watcher
            watcher = loop.create_task(watch())

        # Most answers come back within milliseconds; only a request that waits (queued
        # behind others) needs a task listening for its client's disconnect.
        timer = loop.call_later(WATCH_AFTER, start_watching)
        try:
            return await self._answer(route, params, scope, body)
        except asyncio.CancelledError:
            if gone:
                return None
            raise
        finally:
            timer.cancel()
            if watcher is not None:
                watcher.cancel()
            if len(body) > TRIM_AFTER_BYTES:
                self._trim()

    async def _read_body(
        self, scope: Scope, receive: Receive, shape: ErrorShape
    ) -> bytes | Answer | None:
        limit = self.max_body
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                error = PayloadTooLarge(f"the body is {int(value)} bytes; the limit is {limit}")
                return error_answer(error, {"Connection": "close"}, shape=shape)
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            if len(body) > limit:
                error = PayloadTooLarge(f"the body exceeds the limit of {limit} bytes")
                return error_answer(error, {"Connection": "close"}, shape=shape)
            if not message.get("more_body", False):
                return bytes(body)

    async def _answer(
        self, route: Route, params: dict[str, str], scope: Scope, body: bytes
    ) -> Answer:
        spec = route.predict
        assert spec is not None
        incoming = Incoming(body, _headers(scope), params, self.limits)
        try:
            exchange = spec.open(incoming)
            prediction = await self.service.predict(
                exchange.model_input, output=exchange.output, wanted=exchange.wanted
            )
            answer = exchange.answer(prediction)
        except WarmserveError as exc:
            return error_answer(exc, self._replica(), route.errors, stack_trace=self.stack_traces)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("unexpected error on %s", route.path)
            error = WarmserveError("internal error while predicting")
            return error_answer(error, self._replica(), route.errors)
        headers = {**answer.headers, "X-Model-Version": prediction.version, **self._replica()}
        if self.service.cache is not None:
            headers["X-Cache"] = "hit" if prediction.cached else "miss"
        return replace(answer, headers=headers)

    def _replica(self) -> dict[str, str]:
        return {"X-Replica": self.replica} if self.replica else {}

    def _trim(self) -> None:
        now = time.monotonic()
        if now - self._trimmed >= TRIM_EVERY:
            self._trimmed = now
            trim_memory()


def _headers(scope: Scope) -> dict[str, str]:
    """Request headers by lower-case name (ASGI gives them lower-case); the first one wins."""
    return {
        key.decode("latin-1"): value.decode("latin-1") for key, value in reversed(scope["headers"])
    }


def _not_allowed(method: str, routes: list[Route]) -> Answer:
    allowed = ", ".join(sorted({route.method for route in routes}))
    error = MethodNotAllowed(f"method {method} is not allowed here; use {allowed}")
    return error_answer(error, {"Allow": allowed}, routes[0].errors)

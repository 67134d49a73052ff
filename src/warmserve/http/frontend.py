"""A thin ASGI layer in front of FastAPI for the two prediction routes.

Profiling showed two thirds of an HTTP worker's time per prediction inside
routing and the middleware stack, against a fifth in the endpoint. POSTs to
/invocations and /predict are answered here with the same PredictionService
the FastAPI routes use; everything else (health, /model, /reload, /docs,
lifespan) goes to FastAPI unchanged.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Receive, Scope, Send

from warmserve.errors import BadRequest, PayloadTooLarge
from warmserve.http.answers import Answer, error_answer
from warmserve.http.service import PredictionService
from warmserve.metrics import PREDICT_ROUTES, HttpMetrics


class PredictFrontend:
    def __init__(
        self, app: ASGIApp, service: PredictionService, metrics: HttpMetrics | None
    ) -> None:
        self.app = app
        self.service = service
        self.metrics = metrics
        self.limit = service.settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path")
        if scope["type"] != "http" or scope["method"] != "POST" or path not in PREDICT_ROUTES:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        metrics = self.metrics
        if metrics is not None:
            metrics.in_flight.inc()
        status = 500
        try:
            answer = await self._answer(scope, receive, path)
            status = answer.status
            await send(
                {"type": "http.response.start", "status": status, "headers": answer.raw_headers()}
            )
            await send({"type": "http.response.body", "body": answer.body})
        finally:
            if metrics is not None:
                metrics.in_flight.dec()
                metrics.record(path, status, time.perf_counter() - started)

    async def _answer(self, scope: Scope, receive: Receive, path: str) -> Answer:
        content_type: str | None = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length" and value.isdigit() and int(value) > self.limit:
                return error_answer(
                    PayloadTooLarge(f"the body is {int(value)} bytes; the limit is {self.limit}")
                )
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return error_answer(BadRequest("the client went away before the body arrived"))
            body += message.get("body", b"")
            if len(body) > self.limit:
                return error_answer(
                    PayloadTooLarge(f"the body exceeds the limit of {self.limit} bytes")
                )
            if not message.get("more_body", False):
                break
        return await self.service.answer(path, bytes(body), content_type)

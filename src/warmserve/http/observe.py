"""Pure ASGI middleware that counts and times every request (no BaseHTTPMiddleware
overhead on the hot path)."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from warmserve.http.routes import RouteTable
from warmserve.metrics import HttpMetrics


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: HttpMetrics, table: RouteTable) -> None:
        self.app = app
        self.metrics = metrics
        self.table = table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = self.table.label(scope["path"])  # a route template or "other": bounded
        status = 500
        started = time.perf_counter()

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        metrics: Any = self.metrics
        metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_and_record)
        finally:
            metrics.in_flight.dec()
            metrics.record(route, status, time.perf_counter() - started)

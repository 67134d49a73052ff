"""The status page's routes: ``GET /`` and ``/status`` (the page), ``/status.json``,
and the page's script and style under ``/status/``.

The page is a static shell (package data, no CDN, no third-party code) whose
script renders ``/status.json``; the JSON is built by ``status_view`` from the
same ``/model`` view, the server's event log and the sampled metrics ring, so
polling it never collects metrics or reads more than two small files that
changed. A Content-Security-Policy keeps the page to its own origin.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

import orjson
from starlette.responses import Response

from warmserve import __version__
from warmserve.events import EventLog
from warmserve.http.status_view import mlflow_links, status_view, without_credentials
from warmserve.http.trainer_jobs import TrainerJobs
from warmserve.http.views import iso
from warmserve.ipc.client import RunnerClient
from warmserve.samples import SampleReader
from warmserve.settings import Settings

JSON = "application/json"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# route name -> (file in http/static, content type)
ASSETS = {
    "status_root": ("status.html", "text/html; charset=utf-8"),
    "status_page": ("status.html", "text/html; charset=utf-8"),
    "status_script": ("status.js", "text/javascript; charset=utf-8"),
    "status_style": ("status.css", "text/css; charset=utf-8"),
}
ModelViewer = Callable[[], Awaitable[dict[str, Any]]]
Handler = Callable[..., Awaitable[Response]]


def read_asset(name: str) -> bytes:
    return (resources.files("warmserve.http") / "static" / name).read_bytes()


class StatusPage:
    def __init__(self, settings: Settings, client: RunnerClient, model_view: ModelViewer) -> None:
        self.settings = settings
        self.client = client
        self.model_view = model_view
        runtime_dir = os.path.dirname(client.socket_path)
        self.events = EventLog(runtime_dir)
        self.samples = SampleReader(runtime_dir)
        url = settings.trainer_url
        self.trainer = TrainerJobs(url, without_credentials(url)) if url else None
        self.assets = {name: (read_asset(file), kind) for name, (file, kind) in ASSETS.items()}

    async def view(self) -> dict[str, Any]:
        model = await self.model_view()
        state = self.client.state()  # read with no await since the view: the same state
        interval, samples = self.samples.read()
        served = state.served if state is not None else None
        page = {
            "refresh_seconds": interval or self.settings.status_interval,
            "admin_token_required": self.settings.admin_token is not None,
            "workers": self.settings.workers,
            "server_version": __version__,
            "generated_at": iso(time.time()),
        }
        trainer = await self.trainer.view() if self.trainer is not None else None
        links = mlflow_links(self.settings.tracking_uri, served)
        events = self.events.read()
        return status_view(model, state, events, samples, page, links, trainer)

    def handlers(self) -> dict[str, Handler]:
        """The route-table handlers of the page, by route name."""

        async def status_json() -> Response:
            body = orjson.dumps(await self.view())
            return Response(body, 200, {"Cache-Control": "no-store"}, media_type=JSON)

        def asset(name: str) -> Handler:
            body, kind = self.assets[name]
            headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
            if kind.startswith("text/html"):
                headers["Content-Security-Policy"] = CSP

            async def answer() -> Response:
                return Response(body, 200, headers, media_type=kind)

            return answer

        return {"status_json": status_json, **{name: asset(name) for name in ASSETS}}

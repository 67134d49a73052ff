"""The status page's routes in process: page, assets, /status.json, from the route table."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx

from warmserve.events import EventLog
from warmserve.http.app import create_app
from warmserve.http.routes import BY_NAME, RouteTable
from warmserve.http.status import ASSETS, read_asset
from warmserve.ipc.client import RunnerClient
from warmserve.settings import Settings

STATUS_ROUTES = ("status_root", "status_page", "status_json", "status_script", "status_style")


def get(tmp_path: Path, *paths: str, **settings: Any) -> list[httpx.Response]:
    """GET each path from a worker's app whose model process is not running (nothing
    listens on its socket), with its runtime directory in ``tmp_path``."""
    client = RunnerClient(str(tmp_path / "runner.sock"))
    app = create_app(Settings(**settings), client)

    async def main() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return [await http.get(path) for path in paths]

    return asyncio.run(main())


def test_every_status_route_is_a_row_of_the_table_with_a_metric_label() -> None:
    table = RouteTable()
    for name in STATUS_ROUTES:
        route = BY_NAME[name]
        assert route.method == "GET" and route.tag == "status"
        assert table.label(route.path) == route.path  # labelled, not "other"


def test_the_page_and_its_assets_are_served_from_package_data(tmp_path: Path) -> None:
    root, page, script, style = get(tmp_path, "/", "/status", "/status/page.js", "/status/page.css")
    assert root.status_code == page.status_code == 200
    assert root.content == page.content == read_asset("status.html")
    assert root.headers["content-type"].startswith("text/html")
    csp = root.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    assert script.headers["content-type"].startswith("text/javascript")
    assert style.headers["content-type"].startswith("text/css")
    assert script.content == read_asset("status.js") and style.content == read_asset("status.css")
    assert {file for file, _ in ASSETS.values()} == {"status.html", "status.js", "status.css"}


def test_the_page_loads_nothing_from_another_origin() -> None:
    for name in ("status.html", "status.js", "status.css"):
        text = read_asset(name).decode()
        urls = set(re.findall(r"https?://[^\s\"'`)]+", text))
        assert urls <= {"http://www.w3.org/2000/svg"}, (name, urls)
        assert ".innerHTML" not in text and "eval(" not in text


def test_status_json_says_why_without_a_model_process(tmp_path: Path) -> None:
    EventLog(tmp_path).append("started", workers=1, source=None)
    (response,) = get(tmp_path, "/status.json", trainer_url="http://127.0.0.1:9/")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    view = response.json()
    assert view["ready"] is False and view["model"] is None
    assert view["availability"]["reason"] == "runner_unavailable"
    assert [entry["kind"] for entry in view["history"]] == ["started"]
    assert view["charts"]["time"] == []
    assert view["form"] is None
    assert view["page"]["refresh_seconds"] == 2.0
    assert view["page"]["admin_token_required"] is False
    assert view["trainer"]["error"].startswith("cannot reach the trainer")

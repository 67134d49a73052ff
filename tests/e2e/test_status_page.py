"""The status page in a real headless Chromium (Debian's package, driven by Playwright).

Chromium is installed by scripts/ensure-chromium.sh (apt-get); Playwright uses that
executable and downloads no browser. The tests skip only where /usr/bin/chromium or
Playwright is missing. The trainer (issue 9) is another service: here a tiny fake
trainer HTTP server on 127.0.0.1 answers its GET /jobs.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from support import (
    IRIS_ROW,
    ROOT,
    Load,
    Server,
    cli,
    free_port,
    register_recorder,
    serving,
    wait_until,
)
from warmserve.settings import Settings

CHROMIUM = "/usr/bin/chromium"
# As /work's machine notes say: without the background-networking flags Chromium keeps
# trying to reach Google's hosts, which this machine refuses. Playwright adds a fresh
# --user-data-dir itself.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TOKEN = "s3cret"
REFRESH = 1  # seconds between the page's refreshes in these tests (?refresh=1)
SCREENSHOT = ROOT / "docs" / "status-page.png"
JOBS = {
    "jobs": [
        {"id": "job-2", "state": "registered", "created": 1_800_000_100.0,
         "updated": 1_800_000_160.0, "rows": 150, "version": "2", "reason": None,
         "metrics": {"challenger": {"accuracy": 0.97}, "champion": {"accuracy": 0.95}},
         "decision": {"decision": "promote", "promoted": True}},
        {"id": "job-1", "state": "rejected", "created": 1_800_000_000.0,
         "updated": 1_800_000_001.0, "reason": "the data is empty (no rows)"},
    ]
}  # fmt: skip


class FakeTrainer:
    """GET /jobs as the trainer answers it (a stand-in: the real trainer is issue 9)."""

    def __init__(self) -> None:
        trainer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps(trainer.answer).encode()
                self.send_response(200 if self.path == "/jobs" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.answer: Any = JOBS
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed here (scripts/ensure-chromium.sh)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Tab:
    """One page in a fresh browser context, with every console error and every request."""

    def __init__(self, browser: Any, url: str) -> None:
        self.context = browser.new_context(viewport={"width": 1300, "height": 1400})
        self.page = self.context.new_page()
        self.page.set_default_timeout(60_000)
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.goto(f"{url}/?refresh={REFRESH}")

    def text(self, selector: str) -> str:
        return str(self.page.locator(selector).inner_text())

    def renders(self) -> int:
        return int(self.page.get_attribute("body", "data-renders") or 0)

    def wait_renders(self, more: int) -> None:
        """Wait until the page has rendered ``more`` further /status.json answers (polled
        from here: the page's CSP forbids the eval behind Playwright's wait_for_function)."""
        target = self.renders() + more
        wait_until(lambda: self.renders() >= target, 60, what=f"{more} more renders")

    def assert_clean(self) -> None:
        assert self.errors == [], self.errors
        hosts = {urlsplit(url).hostname for url in self.requests}
        assert hosts == {"127.0.0.1"}, self.requests

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def trainer() -> Iterator[FakeTrainer]:
    fake = FakeTrainer()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, trainer: FakeTrainer) -> Iterator[Server]:
    """iris version 1, two workers, a local cache, an admin token, a trainer."""
    home = tmp_path_factory.mktemp("status") / "home"
    cli(home, "train", "--dataset", "iris", "--name", "iris", "--promote", "production")
    with serving(
        home, "--model", "models:/iris@production", "--workers", "2", "--cache", "local",
        "--admin-token", TOKEN, "--poll-interval", "1", "--status-interval", "1",
        "--trainer-url", trainer.url,
    ) as server:  # fmt: skip
        yield server


@pytest.fixture
def tab(browser: Any, served: Server) -> Iterator[Tab]:
    opened = Tab(browser, served.url)
    try:
        yield opened
    finally:
        opened.close()


def split_body(columns: list[str], row: list[Any]) -> dict[str, Any]:
    return {"dataframe_split": {"columns": columns, "data": [row]}}


def test_the_page_shows_the_served_model_offline(tab: Tab, served: Server) -> None:
    page = tab.page
    page.wait_for_selector("#availability.ready")
    assert tab.text("#availability") == "Serving version 1."
    assert tab.text("#headline") == "iris version 1 @production"
    model = tab.text("#model")
    assert "models:/iris@production" in model and "compiled-linear" in model
    assert page.locator("#signature tbody tr").count() == 4
    assert "sepal_length_cm" in tab.text("#signature")
    page.wait_for_selector("#history li[data-kind=swap][data-version='1']")
    assert page.locator("#history li[data-kind=started]").count() == 1
    # the trainer's jobs, as its GET /jobs answered
    page.wait_for_selector("#trainer-jobs tbody tr")
    jobs = tab.text("#trainer-jobs")
    assert "job-2" in jobs and "promote" in jobs and "challenger.accuracy=0.97" in jobs
    assert "the data is empty (no rows)" in jobs
    tab.wait_renders(2)
    tab.assert_clean()


def test_the_charts_fill_with_the_load_that_is_sent(tab: Tab, served: Server) -> None:
    tab.page.wait_for_selector("#availability.ready")
    load = Load(served.url, {"dataframe_records": [IRIS_ROW]}, clients=4)
    try:
        wait_until(lambda: load.count() >= 200, 120, what="200 predictions")
        for chart, series in [("requests", "2xx"), ("latency", "p50"), ("latency", "p99"),
                              ("rows", "rows"), ("cache", "hit")]:  # fmt: skip
            tab.page.wait_for_selector(
                f"#chart-{chart} path[data-name='{series}']:not([data-max=''])", state="attached"
            )
        for chart in ("queue", "inflight"):
            assert int(tab.page.get_attribute(f"#chart-{chart}", "data-points") or 0) > 0
    finally:
        samples = load.finish()
    assert {sample.status for sample in samples} == {200}
    highest = tab.page.get_attribute("#chart-requests path[data-name='2xx']", "data-max")
    assert float(highest or 0) > 0
    hits = tab.page.get_attribute("#chart-cache path[data-name='hit']", "data-max")
    assert float(hits or 0) > 50  # the same row again and again: the cache answers
    tab.assert_clean()


def test_try_it_answers_what_invocations_answers(tab: Tab, served: Server) -> None:
    page = tab.page
    page.wait_for_selector("#try-form[data-kind=columns]")
    # prefilled from the model's input example
    assert page.input_value("#try-sepal_length_cm") != ""
    columns = list(IRIS_ROW)
    row = [6.7, 3.0, 5.2, 2.3]
    for name, value in zip(columns, row, strict=True):
        page.fill(f"#try-{name}", str(value))
    page.click("#try-send")
    page.wait_for_selector("#try-result:not([hidden])")
    direct = served.client.post("/invocations", json=split_body(columns, row))
    assert tab.text("#try-status") == "200"
    assert json.loads(tab.text("#try-answer")) == direct.json()["predictions"]
    assert tab.text("#try-version") == direct.headers["x-model-version"] == "1"
    assert tab.text("#try-latency").endswith(" ms")

    page.fill("#try-petal_width_cm", "not a number")
    page.click("#try-send")
    page.wait_for_selector("#try-status:text-is('400')")
    bad = served.client.post("/invocations", json=split_body(columns, [*row[:3], "not a number"]))
    assert bad.status_code == 400
    assert tab.text("#try-answer") == f"{bad.json()['error_code']}: {bad.json()['message']}"
    # the browser logs the 400 it was asked to provoke; nothing else
    assert all("status of 400" in error for error in tab.errors), tab.errors


def test_reload_asks_for_the_token_and_shows_the_outcome(tab: Tab, served: Server) -> None:
    page = tab.page
    page.wait_for_selector("#token-label:not([hidden])")
    page.click("#reload")
    page.wait_for_selector("#reload-result.error")
    refused = served.client.post("/reload?wait=true")
    assert refused.status_code == 401
    assert tab.text("#reload-result") == f"401 UNAUTHORIZED: {refused.json()['message']}"

    page.fill("#token", TOKEN)
    page.click("#reload")
    page.wait_for_selector("#reload-result.ok")
    assert tab.text("#reload-result") == "Checked: serving version 1."
    assert all("status of 401" in error for error in tab.errors), tab.errors


def test_a_promotion_appears_in_the_history_at_the_next_refresh(
    tab: Tab, served: Server, tmp_path: Path
) -> None:
    """Runs last in this module: it moves the alias to a model with another signature."""
    page = tab.page
    page.wait_for_selector("#try-sepal_length_cm")
    version = register_recorder(Settings(home=served.home), "iris")
    assert version == "2"

    def in_history() -> bool:
        history = served.client.get("/status.json").json()["history"]
        return any(e["kind"] == "swap" and e["version"] == "2" for e in history)

    wait_until(in_history, 60, what="the swap in /status.json")
    # A refresh that starts after the server knows is the next one at most: two renders on.
    tab.wait_renders(2)
    assert page.locator("#history li[data-kind=swap][data-version='2']").count() == 1
    assert "Version 2 (was 1) swapped in" in tab.text("#history li:first-child")
    # the form follows the new signature
    assert page.locator("#try-sepal_length_cm").count() == 0
    page.fill("#try-x", "21")
    page.click("#try-send")
    page.wait_for_selector("#try-version:text-is('2')")
    assert json.loads(tab.text("#try-answer")) == [{"y": 42.0}]
    assert "x" in tab.text("#signature") and tab.text("#headline") == "iris version 2 @production"
    tab.assert_clean()
    shot = tmp_path / "status-page.png"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("WARMSERVE_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, SCREENSHOT)


def test_the_page_without_a_model_says_why(browser: Any, tmp_path: Path) -> None:
    home = tmp_path / "home"
    closed = f"http://127.0.0.1:{free_port()}"
    no_source = Server(home, "--trainer-url", closed)
    registry_down = Server(
        tmp_path / "down", "--model", "models:/churn@production", "--tracking-uri", closed
    )
    try:
        for server, reason, words in [
            (no_source, "no_source", "No model source is configured"),
            (registry_down, "registry_down", "The model registry cannot be reached"),
        ]:
            tab = Tab(browser, server.url)
            try:
                tab.page.wait_for_selector(f"#availability[data-reason={reason}]")
                assert words in tab.text("#availability")
                assert tab.text("#headline") == "no model served"
                assert tab.page.is_visible("#try-note") and not tab.page.is_visible("#try-form")
                if server is no_source:
                    tab.page.wait_for_selector("#trainer-error:not([hidden])")
                    assert "cannot reach the trainer" in tab.text("#trainer-error")
                else:
                    tab.page.wait_for_selector("#history li[data-kind=registry_down]")
                tab.wait_renders(1)
                tab.assert_clean()
            finally:
                tab.close()
        with httpx.Client(base_url=no_source.url) as client:
            assert client.get("/health/ready").status_code == 503
    finally:
        no_source.stop()
        registry_down.stop()

"""The thin ASGI front, driven by hand (scope, receive, send; no server): the body read
once within the limit, 405s, envelopes and headers, and a client that leaves."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest

from fakes import FakeRunnerClient, served_model
from warmserve.http import frontend
from warmserve.http.frontend import CLIENT_GONE, PredictFrontend
from warmserve.http.limits import InputLimits
from warmserve.http.routes import RouteTable
from warmserve.http.service import PredictionService
from warmserve.metrics import HttpMetrics
from warmserve.process import trim_memory
from warmserve.settings import Settings

BODY = orjson.dumps({"dataframe_split": {"columns": ["x"], "data": [[1.0]]}})


class Exchange:
    """One HTTP exchange: the request's body arrives in ``chunks``; after them the
    client stays connected until ``leave()``."""

    def __init__(
        self,
        method: str,
        path: str,
        chunks: Iterable[bytes] = (BODY,),
        headers: Iterable[tuple[bytes, bytes]] = ((b"content-type", b"application/json"),),
    ) -> None:
        self.scope = {"type": "http", "method": method, "path": path, "headers": list(headers)}
        parts = list(chunks)
        self.messages = [
            {"type": "http.request", "body": part, "more_body": index < len(parts) - 1}
            for index, part in enumerate(parts)
        ]
        self.received = 0
        self.gone = asyncio.Event()
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        self.received += 1
        if self.messages:
            return self.messages.pop(0)
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def leave(self) -> None:
        self.gone.set()

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.sent[0]["headers"]}

    @property
    def json(self) -> Any:
        return orjson.loads(self.sent[1]["body"])


class Fallback:
    """The app behind the front (FastAPI in production): records what reached it."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.paths.append(scope.get("path", scope["type"]))


class Front:
    def __init__(self, tmp_path: Path, served: bool = True) -> None:
        self.settings = Settings(home=tmp_path, replica_name="replica-a", max_body_bytes=1024)
        self.client = FakeRunnerClient(served_model("3") if served else None, body=b"[2.0]")
        self.metrics = HttpMetrics()
        self.fallback = Fallback()
        service = PredictionService(self.settings, self.client)  # type: ignore[arg-type]
        self.app = PredictFrontend(
            self.fallback, service, self.metrics, RouteTable(), InputLimits()
        )

    async def __call__(self, exchange: Exchange) -> Exchange:
        await self.app(exchange.scope, exchange.receive, exchange.send)  # type: ignore[arg-type]
        return exchange

    def recorded(self) -> dict[tuple[str, str], float]:
        (family,) = self.metrics.requests.collect()
        return {
            (s.labels["route"], s.labels["status"]): s.value
            for s in family.samples
            if s.name.endswith("_total")
        }


@pytest.fixture
def front(tmp_path: Path) -> Front:
    return Front(tmp_path)


async def test_an_answer_carries_the_version_and_the_replica(front: Front) -> None:
    exchange = await front(Exchange("POST", "/invocations"))
    assert exchange.status == 200
    assert exchange.json == {"predictions": [2.0]}
    assert exchange.headers["x-model-version"] == "3"
    assert exchange.headers["x-replica"] == "replica-a"
    assert exchange.headers["content-length"] == str(len(exchange.sent[1]["body"]))
    assert "x-cache" not in exchange.headers
    assert front.recorded() == {("/invocations", "200"): 1.0}


async def test_predict_wraps_the_answer_with_the_model(front: Front) -> None:
    exchange = await front(Exchange("POST", "/predict", [b'{"x": 1.0}']))
    assert exchange.json == {"predictions": [2.0], "model": {"name": "m", "version": "3"}}
    assert front.client.calls[0]["data"] == [{"x": 1.0}]


async def test_a_method_the_route_does_not_take_is_a_405_with_allow(front: Front) -> None:
    exchange = await front(Exchange("GET", "/invocations"))
    assert exchange.status == 405
    assert exchange.headers["allow"] == "POST"
    assert exchange.json["error_code"] == "METHOD_NOT_ALLOWED"
    assert exchange.received == 0 and front.client.calls == []
    assert front.recorded() == {("/invocations", "405"): 1.0}


async def test_other_routes_and_other_scopes_go_to_the_app_behind(front: Front) -> None:
    await front(Exchange("GET", "/health/ready"))
    await front.app({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert front.fallback.paths == ["/health/ready", "lifespan"]
    assert front.recorded() == {}


async def test_a_declared_length_over_the_limit_is_a_413_before_reading(front: Front) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"1000000")]
    exchange = await front(Exchange("POST", "/invocations", headers=headers))
    assert exchange.status == 413 and exchange.json["error_code"] == "PAYLOAD_TOO_LARGE"
    assert "1000000 bytes; the limit is 1024" in exchange.json["message"]
    assert exchange.received == 0 and front.client.calls == []


async def test_a_streamed_body_over_the_limit_is_a_413(front: Front) -> None:
    exchange = await front(Exchange("POST", "/invocations", [b" " * 600] * 3))
    assert exchange.status == 413
    assert "exceeds the limit of 1024 bytes" in exchange.json["message"]
    assert exchange.received == 2 and front.client.calls == []  # stopped reading at once


async def test_a_body_in_parts_within_the_limit_is_read_whole(front: Front) -> None:
    exchange = await front(Exchange("POST", "/invocations", [BODY[:10], BODY[10:]]))
    assert exchange.status == 200
    assert front.client.calls[0]["data"] == {"columns": ["x"], "data": [[1.0]]}


async def test_a_decoder_error_answers_4xx_with_the_replica(front: Front) -> None:
    exchange = await front(Exchange("POST", "/invocations", [b"{"]))
    assert exchange.status == 400 and exchange.json["error_code"] == "BAD_REQUEST"
    assert exchange.headers["x-replica"] == "replica-a"


async def test_an_unexpected_error_is_a_500_in_the_error_shape(front: Front) -> None:
    front.client.error = RuntimeError("bug")
    exchange = await front(Exchange("POST", "/invocations"))
    assert exchange.status == 500
    assert exchange.json == {
        "error_code": "INTERNAL_ERROR",
        "message": "internal error while predicting",
    }


async def test_nothing_served_is_a_503_with_retry_after(tmp_path: Path) -> None:
    front = Front(tmp_path, served=False)
    exchange = await front(Exchange("POST", "/invocations"))
    assert exchange.status == 503 and exchange.headers["retry-after"] == "1"


async def test_a_client_that_leaves_cancels_its_prediction(front: Front) -> None:
    front.client.hold.clear()  # the runner has not answered yet
    exchange = Exchange("POST", "/invocations")
    answering = asyncio.create_task(front(exchange))
    await asyncio.wait_for(front.client.entered.wait(), 5)
    exchange.leave()
    await asyncio.wait_for(answering, 5)
    assert front.client.cancelled
    assert exchange.sent == []  # nobody to answer
    assert front.recorded() == {("/invocations", str(CLIENT_GONE)): 1.0}


async def test_a_client_that_leaves_while_sending_its_body_is_not_answered(front: Front) -> None:
    exchange = Exchange("POST", "/invocations", [b'{"instances": '])
    exchange.messages[0]["more_body"] = True
    exchange.leave()
    await front(exchange)
    assert exchange.sent == [] and front.client.calls == []
    assert front.recorded() == {("/invocations", str(CLIENT_GONE)): 1.0}


async def test_a_cancelled_server_task_is_not_taken_for_a_client_that_left(front: Front) -> None:
    front.client.hold.clear()
    answering = asyncio.create_task(front(Exchange("POST", "/invocations")))
    await asyncio.wait_for(front.client.entered.wait(), 5)
    answering.cancel()  # e.g. the worker shuts down: the cancellation must propagate
    with pytest.raises(asyncio.CancelledError):
        await answering
    assert front.client.cancelled


async def test_memory_is_given_back_after_a_large_body_at_most_every_trim_every(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trims: list[float] = []

    def spy() -> None:
        trims.append(0.0)
        trim_memory()  # the real call: harmless, and it must not raise

    monkeypatch.setattr(frontend, "trim_memory", spy)
    monkeypatch.setattr(frontend, "TRIM_EVERY", 3600.0)  # no clock in the test's outcome
    monkeypatch.setattr(frontend, "TRIM_AFTER_BYTES", len(BODY) + 10)  # small bodies suffice
    front = Front(tmp_path)
    large = orjson.dumps({"dataframe_split": {"columns": ["x"], "data": [[1.0]] * 20}})
    assert len(large) > frontend.TRIM_AFTER_BYTES > len(BODY)
    await front(Exchange("POST", "/invocations"))  # a small body: no trim
    assert trims == []
    for _ in range(2):
        assert (await front(Exchange("POST", "/invocations", [large]))).status == 200
    assert len(trims) == 1  # the second large body came within TRIM_EVERY of the first

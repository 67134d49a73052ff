"""RunnerClient against a fake runner served in-process on a unix socket in a tmp dir
(the real runner needs a model process; tests/e2e runs it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fakes import served_model
from support import wait_until_async
from warmserve import errors, protocol
from warmserve.ipc.client import RunnerClient
from warmserve.protocol import (
    Cancel,
    InputForm,
    Message,
    ModelState,
    Ping,
    Pong,
    PredictReply,
    PredictRequest,
    Reload,
    Reloaded,
    WatcherStatus,
    WorkerError,
)


class FakeRunner:
    """Sends ``state`` to each connection, then records what arrives; tests answer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.state: ModelState | None = ModelState("default", served_model("1"), WatcherStatus())
        self.received: list[Message] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_unix_server(self._handle, path=str(self.path))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        if self.state is not None:
            writer.write(protocol.encode(self.state))
        try:
            while True:
                self.received.append(await protocol.read_message(reader))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    def send(self, message: Message) -> None:
        self.writers[-1].write(protocol.encode(message))

    def drop(self) -> None:
        """The runner goes away: close every connection and stop listening."""
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()

    async def arrived(self, kind: type[Any], count: int = 1) -> list[Any]:
        def found() -> list[Any]:
            matching = [m for m in self.received if isinstance(m, kind)]
            return matching if len(matching) >= count else []

        result: list[Any] = await wait_until_async(found, what=f"{count} {kind.__name__}")
        return result


@pytest.fixture
async def runner(tmp_path: Path) -> AsyncIterator[FakeRunner]:
    fake = FakeRunner(tmp_path / "runner.sock")
    await fake.start()
    yield fake
    fake.drop()


@pytest.fixture
async def client(runner: FakeRunner) -> AsyncIterator[RunnerClient]:
    real = RunnerClient(str(runner.path))
    await real.start()
    await wait_until_async(lambda: real.served() is not None, what="the first state")
    yield real
    await real.close()


def predict(client: RunnerClient, x: float, timeout: float = 5.0) -> asyncio.Task[PredictReply]:
    return asyncio.create_task(client.predict(InputForm.RECORDS, [{"x": x}], None, timeout))


async def test_state_messages_update_what_is_served(
    runner: FakeRunner, client: RunnerClient
) -> None:
    served = client.served()
    assert served is not None and served.version == "1"
    runner.send(ModelState("default", served_model("2"), WatcherStatus(checks=2)))
    await wait_until_async(lambda: (client.served() or served).version == "2")
    runner.send(ModelState("default", served_model("2"), WatcherStatus(healthy=False)))
    await wait_until_async(lambda: client.served() is None, what="unhealthy: nothing served")
    state = client.state()
    assert state is not None and not state.status.healthy
    assert client.served("other-model") is None


async def test_replies_resolve_their_own_requests_in_any_order(
    runner: FakeRunner, client: RunnerClient
) -> None:
    first, second = predict(client, 1.0), predict(client, 2.0)
    one, two = await runner.arrived(PredictRequest, 2)
    assert (one.model, one.form, one.data) == ("default", InputForm.RECORDS, [{"x": 1.0}])
    runner.send(PredictReply(two.id, b"[4.0]", "1"))
    runner.send(PredictReply(one.id, b"[2.0]", "1", batch_size=2))
    assert (await second).body == b"[4.0]"
    assert (await first).body == b"[2.0]"


async def test_a_dropped_connection_fails_every_pending_request_at_once(
    runner: FakeRunner, client: RunnerClient
) -> None:
    pending = [predict(client, float(x), timeout=30) for x in range(3)]
    await runner.arrived(PredictRequest, 3)
    runner.drop()
    results = await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 5)
    assert all(isinstance(r, errors.RunnerUnavailable) for r in results), results
    assert all(r.status == 503 for r in results)  # type: ignore[union-attr]
    await wait_until_async(lambda: not client.connected, what="the client to see the drop")
    assert client.served() is None  # the next runner may serve nothing yet
    with pytest.raises(errors.RunnerUnavailable):
        await client.predict(InputForm.RECORDS, [{"x": 1}], None, 1.0)


async def test_the_client_reconnects_to_the_next_runner(
    runner: FakeRunner, client: RunnerClient
) -> None:
    runner.drop()
    await wait_until_async(lambda: not client.connected)
    runner.state = ModelState("default", served_model("7"), WatcherStatus())
    await runner.start()
    assert await client.wait_ready(5.0)
    served = client.served()
    assert served is not None and served.version == "7"


async def test_a_timeout_is_deadline_exceeded_and_cancels_in_the_runner(
    runner: FakeRunner, client: RunnerClient
) -> None:
    with pytest.raises(errors.DeadlineExceeded) as caught:
        await client.predict(InputForm.RECORDS, [{"x": 1}], None, 0.05)
    assert caught.value.status == 504 and "0.05s" in caught.value.message
    (request,) = await runner.arrived(PredictRequest)
    (cancel,) = await runner.arrived(Cancel)
    assert cancel.id == request.id


async def test_a_caller_that_stops_waiting_cancels_in_the_runner(
    runner: FakeRunner, client: RunnerClient
) -> None:
    task = predict(client, 1.0)
    (request,) = await runner.arrived(PredictRequest)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (cancel,) = await runner.arrived(Cancel)
    assert cancel.id == request.id


async def test_errors_keep_their_code_and_version(runner: FakeRunner, client: RunnerClient) -> None:
    failing, unknown = predict(client, 1.0), predict(client, 2.0)
    one, two = await runner.arrived(PredictRequest, 2)
    runner.send(WorkerError(one.id, "INVALID_PARAMETER_VALUE", "the input is wrong", "1"))
    runner.send(WorkerError(two.id, "SOMETHING_NEW", "from a newer runner"))
    with pytest.raises(errors.InvalidParameterValue) as caught:
        await failing
    assert (caught.value.status, caught.value.version) == (400, "1")
    assert caught.value.message == "the input is wrong"
    with pytest.raises(errors.WarmserveError) as other:
        await unknown
    assert other.value.status == 500 and other.value.version is None


async def test_reload_and_ping(runner: FakeRunner, client: RunnerClient) -> None:
    reloading = asyncio.create_task(client.reload(True, 5.0))
    (reload,) = await runner.arrived(Reload)
    assert (reload.model, reload.wait) == ("default", True)
    runner.send(Reloaded(reload.id, "2", None))
    assert await reloading == Reloaded(reload.id, "2", None)

    refused = asyncio.create_task(client.reload(False, 5.0))
    (_, second) = await runner.arrived(Reload, 2)
    runner.send(WorkerError(second.id, "NOT_FOUND", "no model 'x'"))
    with pytest.raises(errors.NotFound):
        await refused

    pinging = asyncio.create_task(client.ping(5.0))
    (ping,) = await runner.arrived(Ping)
    runner.send(Pong(ping.id, {}, {}))
    assert await pinging == Pong(ping.id, {}, {})
    assert await client.ping(0.01) is None  # unanswered: None, not an error


async def test_a_payload_that_cannot_be_framed_is_a_bad_request(client: RunnerClient) -> None:
    with pytest.raises(errors.BadRequest) as caught:
        await client.predict(InputForm.INPUTS, {"x": object()}, None, 1.0)
    assert "cannot be passed to the model" in caught.value.message


async def test_close_fails_what_is_pending_with_shutting_down(
    runner: FakeRunner, client: RunnerClient
) -> None:
    task = predict(client, 1.0)
    await runner.arrived(PredictRequest)
    await client.close()
    with pytest.raises(errors.WarmserveError) as caught:
        await task
    assert caught.value.error_code == "SHUTTING_DOWN", caught.value


async def test_wait_ready_gives_up_after_its_timeout(tmp_path: Path) -> None:
    lonely = RunnerClient(str(tmp_path / "nobody.sock"))
    await lonely.start()
    try:
        assert not await lonely.wait_ready(0.05)
        assert await lonely.ping(1.0) is None
    finally:
        await lonely.close()

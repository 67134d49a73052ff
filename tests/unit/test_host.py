"""One model host in-process: the batch loop with an injected loader and resolver and a
stand-in model (``fakes.Doubling``) on the host's predict thread."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from fakes import SOURCE, Doubling, FakeRegistry, Replies
from support import wait_until_async
from warmserve.metrics import RunnerMetrics
from warmserve.protocol import (
    InputForm,
    Message,
    ModelState,
    PredictReply,
    PredictRequest,
    WorkerError,
)
from warmserve.runtime import batch
from warmserve.runtime import host as host_module
from warmserve.runtime.host import ModelHost
from warmserve.settings import Settings

FAR = 1e12  # a deadline that never comes


class Harness:
    def __init__(self, tmp_path: Path, **settings: Any) -> None:
        self.settings = Settings(
            home=tmp_path, model=SOURCE, poll_interval=0, max_batch_delay_ms=1, **settings
        )
        self.model = Doubling()
        self.registry = FakeRegistry(self.model)
        self.replies = Replies()
        self.states: list[ModelState] = []
        self.metrics = RunnerMetrics()
        self.conn = object()
        self.host = ModelHost(
            "default",
            self.settings,
            self.metrics,
            self.replies,
            lambda host: self.states.append(host.state()),
            loader=self.registry.load,
            resolver=self.registry.resolve,
        )

    def submit(self, request: PredictRequest, conn: Any = None) -> None:
        self.host.submit(request, conn or self.conn)

    async def answer(self, request_id: int) -> Message:
        found: list[Message] = await wait_until_async(
            lambda: self.replies.to(request_id), what=f"an answer to request {request_id}"
        )
        assert len(found) == 1, found
        return found[0]

    async def predicting(self) -> None:
        """Wait until the model is inside a predict call."""
        await wait_until_async(self.model.entered.is_set, what="predict to start")
        self.model.entered.clear()

    def hold(self) -> None:
        self.model.gate.clear()
        self.model.entered.clear()

    def release(self) -> None:
        self.model.gate.set()


def split(request_id: int, *xs: float, deadline: float = FAR) -> PredictRequest:
    data = {"columns": ["x"], "data": [[x] for x in xs]}
    return PredictRequest(request_id, "default", deadline, InputForm.SPLIT, data)


def records(request_id: int, *xs: float) -> PredictRequest:
    return PredictRequest(request_id, "default", FAR, InputForm.RECORDS, [{"x": x} for x in xs])


def body(message: Message) -> Any:
    assert isinstance(message, PredictReply), message
    return orjson.loads(message.body)


def error(message: Message) -> WorkerError:
    assert isinstance(message, WorkerError), message
    return message


@pytest.fixture
async def serving(tmp_path: Path) -> AsyncIterator[Harness]:
    """A host that has loaded version 1."""
    harness = Harness(tmp_path, chunk_rows=2)
    harness.host.start()
    await wait_until_async(lambda: harness.host.slot.current is not None, what="version 1")
    yield harness
    harness.release()
    await harness.host.stop(0)


def counter(metric: Any) -> float:
    (family,) = metric.collect()
    return float(next(s.value for s in family.samples if s.name.endswith("_total")))


async def test_a_request_is_answered_with_the_version(serving: Harness) -> None:
    serving.submit(split(1, 1.5, 2.0))
    reply = await serving.answer(1)
    assert body(reply) == [3.0, 4.0]
    assert isinstance(reply, PredictReply) and reply.version == "1"
    state = serving.host.state()
    assert state.served is not None and state.served.version == "1"
    assert serving.states[-1] == state  # the load was published
    assert serving.host.status().batches == 1


async def test_requests_queued_while_the_model_is_busy_are_merged(serving: Harness) -> None:
    serving.hold()
    serving.submit(split(1, 1))
    await serving.predicting()
    status = serving.host.status()
    assert status.busy_for > 0 and status.version == "1"
    for request_id in (2, 3, 4):
        serving.submit(split(request_id, request_id))
    assert serving.host.status().queued == 3
    serving.release()
    assert [body(await serving.answer(i)) for i in (1, 2, 3, 4)] == [[2.0], [4.0], [6.0], [8.0]]
    assert serving.model.calls == [[1], [2, 3, 4]]
    last = await serving.answer(4)
    assert isinstance(last, PredictReply) and last.batch_size == 3


@pytest.mark.parametrize(("x", "kind"), [(-1, "RecursionError"), (-2, "MemoryError")])
async def test_a_model_failure_fails_only_its_request(serving: Harness, x: int, kind: str) -> None:
    serving.hold()
    serving.submit(split(1, 1))
    await serving.predicting()
    serving.submit(split(2, x))
    serving.submit(split(3, 3))
    serving.release()
    failed = error(await serving.answer(2))
    # MLflow's 400 with its fixed message; the exception itself is in the stack trace
    assert failed.code == "BAD_REQUEST" and kind in str(failed.detail.get("stack_trace"))
    assert failed.version == "1"
    assert body(await serving.answer(3)) == [6.0]
    assert serving.model.calls[1:] == [[x, 3], [x], [3]]  # merged, then each alone


async def test_an_unexpected_error_fails_only_its_batch_and_the_loop_goes_on(
    serving: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = batch.execute
    calls: list[int] = []

    def fails_once(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug in the batch layer")
        return real(*args)

    monkeypatch.setattr(host_module, "execute", fails_once)
    serving.submit(split(1, 1))
    failed = error(await serving.answer(1))
    assert failed.code == "INTERNAL_ERROR" and "a bug in the batch layer" in failed.message
    serving.submit(split(2, 2))
    assert body(await serving.answer(2)) == [4.0]
    assert serving.host.healthy


async def test_a_loop_that_dies_marks_the_host_unhealthy_and_publishes(
    serving: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("the planner broke")

    monkeypatch.setattr(host_module, "plan_batch", broken)
    published = len(serving.states)
    serving.submit(split(1, 1))  # wakes the loop, which dies
    await wait_until_async(lambda: not serving.host.healthy, what="the host to be unhealthy")
    assert len(serving.states) == published + 1
    assert not serving.states[-1].status.healthy
    assert not serving.host.status().healthy


async def test_cancel_drops_a_queued_request(serving: Harness) -> None:
    serving.hold()
    serving.submit(split(1, 1))
    await serving.predicting()
    serving.submit(split(2, 2))
    assert serving.host.cancel(serving.conn, 2)
    assert not serving.host.cancel(serving.conn, 2)  # already gone
    assert not serving.host.cancel(object(), 1)  # another connection's id
    serving.release()
    await serving.answer(1)
    serving.submit(split(3, 3))
    await serving.answer(3)  # answered in order: request 2 would have been before it
    assert serving.replies.to(2) == []
    assert serving.model.calls == [[1], [3]]
    assert counter(serving.metrics.cancelled) == 1


async def test_a_request_the_model_is_on_finishes_but_nobody_is_answered(
    serving: Harness,
) -> None:
    serving.hold()
    serving.submit(split(1, 1))
    await serving.predicting()
    assert serving.host.cancel(serving.conn, 1)
    serving.release()
    serving.submit(split(2, 2))
    await serving.answer(2)
    assert serving.replies.to(1) == []


async def test_a_connection_that_goes_away_drops_its_requests_only(serving: Harness) -> None:
    other = object()
    serving.hold()
    serving.submit(split(1, 1))
    await serving.predicting()
    serving.submit(split(2, 2))
    serving.submit(split(3, 3), conn=other)
    serving.host.drop_connection(serving.conn)
    serving.release()
    assert body(await serving.answer(3)) == [6.0]
    assert serving.replies.to(1) == [] and serving.replies.to(2) == []


async def test_an_expired_request_is_dropped_with_deadline_exceeded(serving: Harness) -> None:
    serving.submit(split(1, 1, deadline=time.monotonic() - 1))
    failed = error(await serving.answer(1))
    assert failed.code == "DEADLINE_EXCEEDED" and "before the model reached it" in failed.message
    assert serving.model.calls == []


async def test_a_request_that_expires_between_its_parts_stops_there(serving: Harness) -> None:
    deadline = time.monotonic() + 0.05
    serving.hold()
    serving.submit(split(1, 1, 2, 3, 4, deadline=deadline))  # two parts of chunk_rows=2
    await serving.predicting()
    await wait_until_async(lambda: time.monotonic() > deadline, what="the deadline to pass")
    serving.release()
    failed = error(await serving.answer(1))
    assert failed.code == "DEADLINE_EXCEEDED" and "between its parts" in failed.message
    assert serving.model.calls == [[1, 2]]


async def test_a_small_request_is_answered_between_the_parts_of_a_large_one(
    serving: Harness,
) -> None:
    large = split(1, *range(10))  # five parts of chunk_rows=2
    serving.submit(large)
    serving.submit(records(2, 100))  # another batch key: never merged with the large one
    assert body(await serving.answer(1)) == [2.0 * x for x in range(10)]
    assert body(await serving.answer(2)) == [200.0]
    order = [m.id for _, m in serving.replies.sent if isinstance(m, PredictReply)]
    assert order == [2, 1]
    assert serving.model.calls == [[0, 1], [100], [2, 3], [4, 5], [6, 7], [8, 9]]


async def test_stop_drains_the_queue(serving: Harness) -> None:
    for request_id in (1, 2, 3):
        serving.submit(split(request_id, request_id))
    await serving.host.stop(10)
    for request_id in (1, 2, 3):
        assert body(await serving.answer(request_id)) == [2.0 * request_id]


async def test_stop_fails_what_is_left_after_the_grace_with_shutting_down(
    serving: Harness,
) -> None:
    serving.hold()
    serving.submit(split(1, 1))
    await serving.predicting()
    serving.submit(split(2, 2))
    serving.submit(split(3, 3))
    await serving.host.stop(0.01)
    for request_id in (2, 3):
        assert error(await serving.answer(request_id)).code == "SHUTTING_DOWN"
    assert not serving.host.queue


async def test_nothing_loaded_answers_model_not_available(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    harness.registry.broken.add("1")
    harness.host.start()
    try:
        await wait_until_async(lambda: harness.host.watcher.failure, what="the failed load")
        harness.submit(split(1, 1))
        assert error(await harness.answer(1)).code == "MODEL_NOT_AVAILABLE"
        assert harness.host.state().served is None
    finally:
        await harness.host.stop(0)

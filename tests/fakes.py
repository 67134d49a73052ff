"""In-process stand-ins for the unit layer (``from fakes import ...``).

Each fake replaces a process or a service that a unit test cannot start: the
model runner behind ``RunnerClient``, a model behind a ``Predictor``, the MLflow
registry behind a watcher's resolver and loader. The real ones are exercised
by tests/e2e.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np

from warmserve.errors import ModelLoadError
from warmserve.protocol import (
    DEFAULT_MODEL,
    InputForm,
    Message,
    OutputForm,
    PredictorInfo,
    PredictReply,
    PredictRequest,
    ServedModel,
)
from warmserve.registry import ModelVersion
from warmserve.runtime.batch import Job, Pending, batch_key, chunks, payload_rows, request_rows
from warmserve.runtime.model import LoadedModel

SOURCE = "models:/m@production"


def served_model(version: str, name: str = "m") -> ServedModel:
    return ServedModel(version=version, name=name, source=SOURCE, load_uri=f"models:/m/{version}")


class FakeRunnerClient:
    """What ``PredictionService`` uses of ``RunnerClient``, without a runner process.

    ``predict`` answers ``body`` from ``reply_version`` (default: the served one); with
    ``hold`` cleared it waits for it (bounded) and records a cancellation.
    """

    def __init__(self, served: ServedModel | None = None, body: bytes = b"[1.0]") -> None:
        self.current = served
        self.body = body
        self.reply_version: str | None = None
        self.becomes_ready: ServedModel | None = None  # what wait_ready() makes served
        self.error: Exception | None = None
        self.calls: list[dict[str, Any]] = []
        self.waited: list[float] = []
        self.hold = asyncio.Event()
        self.hold.set()
        self.entered = asyncio.Event()
        self.cancelled = False

    def served(self, model: str = DEFAULT_MODEL) -> ServedModel | None:
        return self.current

    async def wait_ready(self, timeout: float, model: str = DEFAULT_MODEL) -> bool:
        self.waited.append(timeout)
        if self.becomes_ready is not None:
            self.current = self.becomes_ready
        return self.current is not None

    async def predict(
        self,
        form: InputForm,
        data: Any,
        params: dict[str, Any] | None,
        timeout: float,
        *,
        model: str = DEFAULT_MODEL,
        output: OutputForm = OutputForm.MLFLOW_JSON,
    ) -> PredictReply:
        self.calls.append({"form": form, "data": data, "params": params, "timeout": timeout})
        self.entered.set()
        try:
            await asyncio.wait_for(self.hold.wait(), 10)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.error is not None:
            raise self.error
        assert self.current is not None
        return PredictReply(len(self.calls), self.body, self.reply_version or self.current.version)


class Doubling:
    """A model stand-in on the predict thread: doubles ``x`` of split or records input.

    ``x == -1`` raises RecursionError and ``x == -2`` MemoryError (the model's own
    failures); clearing ``gate`` holds every call at its start (bounded) until set.
    """

    name = "doubling"

    def __init__(self) -> None:
        self.calls: list[list[float]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def predict(self, form: InputForm, data: Any, params: dict[str, Any] | None) -> Any:
        if form is InputForm.SPLIT:
            xs = [row[0] for row in data["data"]]
        else:
            xs = [record["x"] for record in data]
        self.calls.append(xs)
        self.entered.set()
        self.gate.wait(10)
        if -1 in xs:
            raise RecursionError("maximum recursion depth exceeded")
        if -2 in xs:
            raise MemoryError("cannot allocate the output")
        return np.array([2.0 * x for x in xs])

    def detail(self) -> dict[str, Any]:
        return {}


def model_version(version: str) -> ModelVersion:
    return ModelVersion(
        source=SOURCE,
        load_uri=f"models:/m/{version}",
        name="m",
        version=version,
        alias="production",
        run_id=None,
    )


class FakeRegistry:
    """A watcher's resolver and loader: the alias points at ``target``; versions in
    ``broken`` fail to load; ``resolve_error`` makes the registry call fail."""

    def __init__(self, predictor: Any = None) -> None:
        self.predictor = predictor or Doubling()
        self.target = "1"
        self.broken: set[str] = set()
        self.resolve_error: Exception | None = None
        self.resolves = 0
        self.loads: list[str] = []

    def resolve(self) -> ModelVersion:
        self.resolves += 1
        if self.resolve_error is not None:
            raise self.resolve_error
        return model_version(self.target)

    def load(self, version: ModelVersion) -> LoadedModel:
        self.loads.append(version.version)
        if version.version in self.broken:
            raise ModelLoadError(f"version {version.version} does not load")
        served = ServedModel(
            version=version.version,
            name=version.name,
            source=version.source,
            load_uri=version.load_uri,
            predictor=PredictorInfo(self.predictor.name),
        )
        return LoadedModel(version, None, self.predictor, served)


class Replies:
    """The runner's ``reply(conn, message)``: records every message sent to a connection."""

    def __init__(self) -> None:
        self.sent: list[tuple[Any, Message]] = []

    def __call__(self, conn: Any, message: Message) -> None:
        self.sent.append((conn, message))

    def to(self, request_id: int) -> list[Message]:
        return [m for _, m in self.sent if getattr(m, "id", None) == request_id]


def pendings(*requests: PredictRequest, chunk_rows: int = 1000) -> list[Pending]:
    """What the batch loop would hand ``execute``: each request's first piece, in order."""
    found = []
    for index, request in enumerate(requests):
        request.id = index
        rows = request_rows(request)
        parts = chunks(request, rows, chunk_rows)
        job = Job(request, None, rows, batch_key(request), parts=parts[1:])
        found.append(
            Pending(
                job, parts[0], payload_rows(request.form, parts[0]), 0.0, False, len(parts) == 1
            )
        )
    return found

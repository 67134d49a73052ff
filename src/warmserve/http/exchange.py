"""The seam between the thin front and a prediction protocol: one request, read.

A route's spec opens an :class:`Exchange` from the :class:`Incoming` request: the model
input to predict, the output form the runner should write, the model and version the
request names, and how to answer once the prediction is there. Protocols whose answer
depends on the request (the v2 binary extension, a request id to echo) keep what they
need in their exchange; the front stays the same for all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from warmserve.errors import ModelNotAvailable, NotFound
from warmserve.http.answers import Answer
from warmserve.http.codecs import ModelInput
from warmserve.http.limits import InputLimits
from warmserve.protocol import OutputForm, ServedModel


@dataclass(frozen=True, slots=True)
class Prediction:
    """What the prediction service answers, before any envelope."""

    body: bytes  # the prediction, encoded by the runner in the route's output form
    version: str
    name: str | None
    cached: bool
    bare: bool = False  # answered as the model's output alone (chat/completions payloads)


@dataclass(frozen=True, slots=True)
class Incoming:
    """What a prediction route sees of one request."""

    body: bytes
    headers: Mapping[str, str]  # lower-case names; the first of repeated headers
    path: Mapping[str, str]  # the route's path parameters
    limits: InputLimits

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")


UNNAMED_MODEL = "model"  # the name of a served model that has none (runs:/ sources)


def public_name(served: ServedModel) -> str:
    """The name clients use for the served model: its registered name."""
    return served.name or UNNAMED_MODEL


@dataclass(frozen=True, slots=True)
class ModelRef:
    """The model (registered name) and version a request names; None is any."""

    name: str | None = None
    version: str | None = None

    def check(self, served: ServedModel | None) -> ServedModel:
        """The served model if it is the one named; else 404 (503 when none is served)."""
        if served is None:
            raise ModelNotAvailable("model is not available", retry_after=1)
        name = public_name(served)
        if self.name is not None and self.name != name:
            raise NotFound(f"model {self.name!r} is not served here (this server serves {name!r})")
        if self.version is not None and self.version != served.version:
            raise NotFound(
                f"version {self.version!r} of model {name!r} is not served "
                f"(the served version is {served.version!r})"
            )
        return served


class Exchange(Protocol):
    """One prediction request as its protocol read it, and how it answers."""

    @property
    def model_input(self) -> ModelInput: ...

    @property
    def output(self) -> OutputForm: ...

    @property
    def wanted(self) -> ModelRef | None: ...

    def answer(self, prediction: Prediction) -> Answer:
        """The 200 answer (the front adds X-Model-Version and the cache header)."""
        ...


@dataclass(frozen=True, slots=True)
class ExchangeSpec:
    """A prediction route whose protocol reads the whole request (headers, path) and whose
    answer depends on it, with what the OpenAPI document says of it."""

    open: Callable[[Incoming], Exchange]
    request_content: Callable[[ServedModel | None], dict[str, Any]]  # media type -> schema
    answer_schema: dict[str, Any]

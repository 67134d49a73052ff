"""What the HTTP layer sends back, independent of the framework that sends it.

``error_answer`` is the single place that turns a domain error into a response:
the FastAPI exception handler and the prediction front both use it. The body's shape
is the route's (:class:`ErrorShape`): warmserve's ``{"error_code", "message"}`` by
default, another protocol's where a route speaks one (v2: ``{"error"}``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from warmserve.errors import WarmserveError

JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = JSON

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """ASGI header list, with the content type and length."""
        raw = [
            (b"content-type", self.media_type.encode("latin-1")),
            (b"content-length", str(len(self.body)).encode()),
        ]
        raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]
        return raw


def error_headers(error: WarmserveError) -> dict[str, str]:
    headers = {}
    if error.status == 503:
        headers["Retry-After"] = str(max(1, round(error.retry_after or 1)))
    if error.version is not None:
        headers["X-Model-Version"] = error.version
    return headers


@dataclass(frozen=True, slots=True)
class ErrorShape:
    """How a route writes an error body, and its JSON schema (an OpenAPI component)."""

    name: str  # the component name in the OpenAPI document
    render: Callable[[WarmserveError, bool], bytes]  # (error, with its stack trace)
    schema: dict[str, Any]


WARMSERVE_ERRORS = ErrorShape(
    "Error",
    lambda error, stack_trace: orjson.dumps(error.to_dict(stack_trace=stack_trace)),
    {
        "type": "object",
        "properties": {
            "error_code": {"type": "string", "example": "BAD_REQUEST"},
            "message": {"type": "string"},
            "sqlstate": {"type": "string", "example": "KAM00"},
            "error_class": {"type": "string", "example": "INVALID_PARAMETER_VALUE"},
            "stack_trace": {"type": "string"},
        },
        "required": ["error_code", "message"],
    },
)


def error_answer(
    error: WarmserveError,
    extra: dict[str, str] | None = None,
    shape: ErrorShape = WARMSERVE_ERRORS,
    *,
    stack_trace: bool = False,
) -> Answer:
    """``stack_trace``: add the model's stack trace where there is one (expose_stack_traces)."""
    body = shape.render(error, stack_trace)
    return Answer(error.status, body, {**error_headers(error), **(extra or {})})

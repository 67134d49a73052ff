"""The v2 infer route: its exchange with the prediction service and its error shape.

The request is read into tensors (``InputForm.TENSORS``); the runner writes the outputs
as JSON values, or raw when any output is wanted binary; the answer echoes the request
id and names the version that produced it. The path names the model (and version),
which the prediction service checks against the one it serves (404 otherwise).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from warmserve.http.answers import Answer, ErrorShape
from warmserve.http.codecs import ModelInput
from warmserve.http.exchange import ExchangeSpec, Incoming, ModelRef, Prediction
from warmserve.http.v2.request import HEADER_LENGTH, InferRequest, decode_infer
from warmserve.http.v2.response import write_answer
from warmserve.http.v2.schema import infer_answer_schema, infer_request_content
from warmserve.protocol import InputForm, OutputForm

V2_ERRORS = ErrorShape(
    "V2Error",
    lambda error, stack_trace: orjson.dumps({"error": error.message}),
    {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]},
)


def fingerprint(tensors: list[list[Any]]) -> str:
    """A digest of the tensors for cache keys (their raw bytes are not JSON)."""
    digest = hashlib.sha256(orjson.dumps([[*t[:3], len(t[3])] for t in tensors]))
    for *_, raw in tensors:
        digest.update(raw)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class InferExchange:
    request: InferRequest
    model_input: ModelInput
    wanted: ModelRef

    @property
    def output(self) -> OutputForm:
        return OutputForm.V2_BINARY if self.request.wants_binary else OutputForm.V2_JSON

    def answer(self, prediction: Prediction) -> Answer:
        return write_answer(self.request, prediction, self.output is OutputForm.V2_BINARY)


def open_infer(incoming: Incoming) -> InferExchange:
    request = decode_infer(incoming.body, incoming.headers.get(HEADER_LENGTH), incoming.limits)
    model_input = ModelInput(
        InputForm.TENSORS, request.inputs, request.params, fingerprint=fingerprint(request.inputs)
    )
    wanted = ModelRef(incoming.path.get("name"), incoming.path.get("version"))
    return InferExchange(request, model_input, wanted)


INFER = ExchangeSpec(open_infer, infer_request_content, infer_answer_schema())

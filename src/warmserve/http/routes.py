"""The route table: every route of the API, once.

The thin front matches prediction routes against it (with path parameters);
FastAPI registers the other routes from it; the OpenAPI document and the
metric route labels are generated from it. Adding a route is adding a row
here (and, for a prediction route, a decoder and an envelope). Each row also
says how its errors are written (its protocol's error shape).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from warmserve.http.answers import WARMSERVE_ERRORS, Answer, ErrorShape
from warmserve.http.codecs import ModelInput, decode_predict
from warmserve.http.exchange import Exchange, ExchangeSpec, Incoming, ModelRef, Prediction
from warmserve.http.limits import InputLimits
from warmserve.http.scoring import CONTENT_TYPES as SCORING_CONTENT_TYPES
from warmserve.http.scoring import decode_invocations
from warmserve.http.v2.infer import INFER, V2_ERRORS
from warmserve.protocol import OutputForm

Decoder = Callable[[bytes, str | None, InputLimits], ModelInput]
Envelope = Callable[[Prediction], bytes]


def invocations_envelope(prediction: Prediction) -> bytes:
    if prediction.bare:
        return prediction.body
    return b'{"predictions":' + prediction.body + b"}"


def predict_envelope(prediction: Prediction) -> bytes:
    import orjson

    meta = orjson.dumps({"name": prediction.name, "version": prediction.version})
    return b'{"predictions":' + prediction.body + b',"model":' + meta + b"}"


@dataclass(frozen=True, slots=True)
class Invocation:
    """An exchange of the MLflow-style routes: the answer is the envelope of the prediction."""

    model_input: ModelInput
    envelope: Envelope
    output: OutputForm = OutputForm.MLFLOW_JSON
    wanted: ModelRef | None = None

    def answer(self, prediction: Prediction) -> Answer:
        return Answer(200, self.envelope(prediction))


@dataclass(frozen=True, slots=True)
class PredictSpec:
    """How a prediction route reads its body and wraps its answer."""

    decode: Decoder
    envelope: Envelope
    content_types: tuple[str, ...]
    example: Callable[[Any], Any]  # request example built from the served input example

    def open(self, incoming: Incoming) -> Exchange:
        model_input = self.decode(incoming.body, incoming.content_type, incoming.limits)
        return Invocation(model_input, self.envelope)


@dataclass(frozen=True, slots=True)
class Route:
    name: str  # the OpenAPI operationId; unique
    method: str
    path: str  # template, e.g. /v2/models/{name}/infer; also the metric label
    summary: str
    tag: str
    statuses: tuple[int, ...]  # every status the route can answer (documented in OpenAPI)
    # set: answered by the thin front, not FastAPI
    predict: PredictSpec | ExchangeSpec | None = None
    response_type: str = "application/json"
    description: str = ""
    query: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    errors: ErrorShape = WARMSERVE_ERRORS  # how its error bodies are written

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(re.findall(r"{(\w+)}", self.path))


PREDICT_ERRORS = (400, 413, 415, 500, 503, 504)
V2_INFER_STATUSES = (200, 400, 404, 413, 500, 503, 504)
V2_MODEL = "/v2/models/{name}"
V2_VERSION = "/v2/models/{name}/versions/{version}"
V2_INFER_TEXT = (
    "Open Inference Protocol v2 (KServe, Triton, MLServer clients). One tensor per input "
    "column (see the model metadata), or one 2-D tensor [N, columns] for all-numeric "
    "columns. Binary tensor extension: send Inference-Header-Content-Length with the byte "
    "count of the JSON header, then the raw little-endian tensors of the inputs that give "
    "parameters.binary_data_size; outputs are binary when asked (binary_data_output, or "
    "an output's binary_data) and the answer then has the same header. Errors are "
    '{"error": "..."}.'
)


def _split_example(example: Any) -> Any:
    return example or {"dataframe_split": {"columns": ["x"], "data": [[1.0]]}}


def _record_example(example: Any) -> Any:
    split = (example or {}).get("dataframe_split") if isinstance(example, dict) else None
    if not split or not split.get("data") or split.get("columns") is None:
        return {"x": 1.0}
    return dict(zip(split["columns"], split["data"][0], strict=False))


ROUTES: tuple[Route, ...] = (
    Route(
        "invocations", "POST", "/invocations",
        "MLflow scoring protocol: `mlflow models serve` clients work unchanged",
        "predict", (200, *PREDICT_ERRORS),
        PredictSpec(
            decode_invocations, invocations_envelope, SCORING_CONTENT_TYPES, _split_example,
        ),
        description="Also takes `text/csv` (a header row) and "
        "`application/vnd.apache.parquet` bodies, as `mlflow models serve` does.",
    ),
    Route(
        "predict", "POST", "/predict",
        "One record (a JSON object) or a list of records; answers with the version",
        "predict", (200, *PREDICT_ERRORS),
        PredictSpec(decode_predict, predict_envelope, ("application/json",), _record_example),
    ),
    Route("live", "GET", "/health/live", "200 while the HTTP worker runs", "health", (200,)),
    Route(
        "ping", "GET", "/ping",
        "MLflow scoring server health check (what MLflow's client and SageMaker call): "
        "200 when a model is loaded; 503 otherwise", "health", (200, 503),
        response_type="text/plain",
    ),
    Route(
        "health", "GET", "/health", "Same as /ping, as in MLflow's scoring server", "health",
        (200, 503), response_type="text/plain",
    ),
    Route(
        "version", "GET", "/version", "The MLflow version serving the model, as text",
        "health", (200,), response_type="text/plain",
    ),
    Route(
        "ready", "GET", "/health/ready", "200 when a model is loaded; 503 otherwise", "health",
        (200, 503),
    ),
    Route(
        "model", "GET", "/model", "What is served, what the watcher knows, server-wide totals",
        "model", (200,),
    ),
    Route(
        "metrics", "GET", "/metrics",
        "Prometheus text format, summed over every worker and the model process", "health",
        (200,), response_type="text/plain",
    ),
    Route(
        "reload", "POST", "/reload", "Check the model source now (admin)", "admin",
        (200, 202, 400, 401, 404, 503, 504),
        description="`wait=true` answers 200 after the check; otherwise 202 at once.",
        query=({"name": "wait", "in": "query", "required": False,
                "schema": {"type": "boolean", "default": False}},),
    ),
    Route(
        "reload_get", "GET", "/reload", "Check the model source now (admin; for older scripts)",
        "admin", (200, 202, 400, 401, 404, 503, 504),
        query=({"name": "wait", "in": "query", "required": False,
                "schema": {"type": "boolean", "default": False}},),
    ),
    Route(
        "v2_server", "GET", "/v2", "v2 server metadata: name, version, extensions", "v2",
        (200,), errors=V2_ERRORS,
    ),
    Route(
        "v2_live", "GET", "/v2/health/live", "v2 liveness: 200 while the HTTP worker runs",
        "v2", (200,), errors=V2_ERRORS,
    ),
    Route(
        "v2_ready", "GET", "/v2/health/ready", "v2 readiness: 200 when a model is loaded; 503 "
        "otherwise", "v2", (200, 503), errors=V2_ERRORS,
    ),
    Route(
        "v2_model", "GET", V2_MODEL, "v2 model metadata: input and output tensors", "v2",
        (200, 404, 503), errors=V2_ERRORS,
    ),
    Route(
        "v2_model_version", "GET", V2_VERSION, "v2 metadata of one version (the served one)",
        "v2", (200, 404, 503), errors=V2_ERRORS,
    ),
    Route(
        "v2_model_ready", "GET", V2_MODEL + "/ready", "v2 model readiness", "v2",
        (200, 404, 503), errors=V2_ERRORS,
    ),
    Route(
        "v2_model_version_ready", "GET", V2_VERSION + "/ready",
        "v2 readiness of one version (the served one)", "v2", (200, 404, 503),
        errors=V2_ERRORS,
    ),
    Route(
        "v2_infer", "POST", V2_MODEL + "/infer", "v2 inference", "v2", V2_INFER_STATUSES,
        INFER, description=V2_INFER_TEXT, errors=V2_ERRORS,
    ),
    Route(
        "v2_infer_version", "POST", V2_VERSION + "/infer",
        "v2 inference on one version (the served one)", "v2", V2_INFER_STATUSES, INFER,
        description=V2_INFER_TEXT, errors=V2_ERRORS,
    ),
    # The status page (http/status.py): the page itself, its facts as JSON, its assets.
    Route(
        "status_root", "GET", "/",
        "The status page: served model, history, live charts, reload, try it", "status",
        (200,), response_type="text/html",
    ),
    Route(
        "status_page", "GET", "/status", "The status page (the same as /)", "status", (200,),
        response_type="text/html",
    ),
    Route(
        "status_json", "GET", "/status.json",
        "The status page's facts: the /model view plus availability, history, live series, "
        "the try-it form and the trainer's jobs", "status", (200,),
    ),
    Route(
        "status_script", "GET", "/status/page.js", "The status page's script", "status", (200,),
        response_type="text/javascript",
    ),
    Route(
        "status_style", "GET", "/status/page.css", "The status page's style", "status", (200,),
        response_type="text/css",
    ),
)  # fmt: skip

BY_NAME = {route.name: route for route in ROUTES}
PREDICT_ROUTES = tuple(route for route in ROUTES if route.predict is not None)


def _compile(template: str) -> re.Pattern[str]:
    parts = re.split(r"({\w+})", template)
    pattern = "".join(
        f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") else re.escape(part) for part in parts
    )
    return re.compile(f"^{pattern}$")


class RouteTable:
    """Matches request paths against the table (static paths by dict, templates by regex)."""

    def __init__(self, routes: tuple[Route, ...] = ROUTES) -> None:
        self.routes = routes
        self._static: dict[str, list[Route]] = {}
        self._templates: list[tuple[re.Pattern[str], Route]] = []
        # the first path segment of routes with their own error shape ("/v2"): the paths
        # under it that match no route answer in that shape too
        self._error_prefixes: dict[str, ErrorShape] = {}
        for route in routes:
            if route.params:
                self._templates.append((_compile(route.path), route))
            else:
                self._static.setdefault(route.path, []).append(route)
            first = "/" + route.path.split("/")[1]
            if route.errors is not WARMSERVE_ERRORS and "{" not in first:
                self._error_prefixes[first] = route.errors

    def candidates(self, path: str) -> tuple[list[Route], dict[str, str]]:
        """The routes whose path matches (any method) and the path parameters."""
        found = self._static.get(path)
        if found is not None:
            return found, {}
        for pattern, _ in self._templates:
            match = pattern.match(path)
            if match is not None:
                same = [r for p, r in self._templates if p.pattern == pattern.pattern]
                return same, match.groupdict()
        return [], {}

    def errors(self, path: str) -> ErrorShape:
        """The error shape of a path: its route's, or that of the routes under its prefix."""
        routes, _ = self.candidates(path)
        if routes:
            return routes[0].errors
        first = "/" + path.split("/")[1] if path.startswith("/") else path
        return self._error_prefixes.get(first, WARMSERVE_ERRORS)

    def label(self, path: str) -> str:
        """The metric label of a path: its route template, or "other" (bounded cardinality)."""
        routes, _ = self.candidates(path)
        return routes[0].path if routes else "other"

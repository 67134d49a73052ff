"""The OpenAPI document, generated from the route table.

Every status a route can answer is documented (with the error schema), GET and
POST of one path have their own operation ids, /metrics is text, and request
examples come from the served model's own input example, so "Try it out"
works against the model that is actually served.
"""

from __future__ import annotations

from typing import Any

from warmserve.http.answers import WARMSERVE_ERRORS
from warmserve.http.exchange import ExchangeSpec
from warmserve.http.routes import Route
from warmserve.http.scoring import CSV, LLM_KEYS, PARQUET
from warmserve.protocol import ServedModel

ERROR_SCHEMA: dict[str, Any] = WARMSERVE_ERRORS.schema
BINARY = "application/octet-stream"
STATUS_TEXT = {
    200: "OK",
    202: "Accepted: the check runs in the background",
    400: "Bad request: malformed body, wrong shape, input limits, signature mismatch, "
    "or the model raised on this input (as MLflow answers)",
    401: "The admin token is missing or wrong",
    404: "No such model or version",
    405: "Method not allowed (the Allow header lists the allowed ones)",
    413: "The body exceeds max_body_bytes",
    415: "Unsupported content type or charset",
    500: "The model's output cannot be encoded as JSON, or the model raised an "
    "MlflowException with INTERNAL_ERROR",
    503: "No model is loaded, or the model process is being replaced (see Retry-After)",
    504: "No answer within request_timeout",
}
_SCALAR: dict[str, Any] = {"type": ["string", "number", "boolean", "null"]}
_RECORD: dict[str, Any] = {"type": "object", "minProperties": 1}
_ENVELOPES: dict[str, Any] = {
    "dataframe_split": {
        "type": "object",
        "properties": {
            "columns": {"type": "array", "items": _SCALAR},
            "data": {"type": "array", "items": {}},
            "index": {"type": "array", "items": {}},
        },
        "required": ["data"],
        "additionalProperties": False,
    },
    "dataframe_records": {"type": "array", "items": _RECORD, "minItems": 1},
    "instances": {"type": ["array", "object", "string", "number", "boolean"]},
    "inputs": {"type": ["array", "object", "string", "number", "boolean"]},
}
REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Exactly one of dataframe_split, dataframe_records, instances, inputs; "
    "optionally params; other fields are ignored. Whether the rows fit the served model is "
    "decided by its signature. A body with messages, prompt or input is a chat, completions "
    "or embeddings request: it goes to the model whole and is answered without the "
    "predictions wrapper.",
    "properties": {**_ENVELOPES, "params": {}},
    "anyOf": [
        {"oneOf": [{"required": [name]} for name in _ENVELOPES]},
        {"anyOf": [{"required": [key]} for key in LLM_KEYS]},
    ],
}
PREDICT_SCHEMA: dict[str, Any] = {
    "oneOf": [_RECORD, {"type": "array", "items": _RECORD, "minItems": 1}],
    "description": "One record, or a list of records, as the served model's columns.",
}
PREDICTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"predictions": {}},
    "required": ["predictions"],
}


def _response(route: Route, status: int) -> dict[str, Any]:
    text = STATUS_TEXT.get(status, "")
    if status >= 400:
        ref = {"$ref": f"#/components/schemas/{route.errors.name}"}
        response: dict[str, Any] = {
            "description": text,
            "content": {"application/json": {"schema": ref}},
        }
        if status == 503:
            response["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
        return response
    if route.response_type != "application/json":
        return {
            "description": text,
            "content": {route.response_type: {"schema": {"type": "string"}}},
        }
    spec = route.predict
    schema = PREDICTIONS_SCHEMA if spec is not None else {"type": "object"}
    content: dict[str, Any] = {"application/json": {"schema": schema}}
    if isinstance(spec, ExchangeSpec):
        binary = {"type": "string", "format": "binary"}  # JSON header + raw tensors
        content = {"application/json": {"schema": spec.answer_schema}, BINARY: {"schema": binary}}
    response = {"description": text, "content": content}
    if route.predict is not None:
        response["headers"] = {
            "X-Model-Version": {
                "schema": {"type": "string"},
                "description": "the version that answered",
            }
        }
    return response


def _request_body(route: Route, served: ServedModel | None) -> dict[str, Any]:
    assert route.predict is not None
    if isinstance(route.predict, ExchangeSpec):
        return {"required": True, "content": route.predict.request_content(served)}
    example = served.input_example if served is not None else None
    columns = column_schemas(served.signature if served is not None else {})
    content: dict[str, Any] = {}
    for media in route.predict.content_types:
        if media in (CSV, PARQUET):
            continue  # not JSON: described in the operation instead
        if route.name == "invocations":
            schema = invocations_schema(columns) if columns else REQUEST_SCHEMA
        else:
            schema = predict_schema(columns) if columns else PREDICT_SCHEMA
        content[media] = {"schema": schema, "example": route.predict.example(example)}
    return {"required": True, "content": content}


# What MLflow's schema enforcement accepts for each column type (it converts: a boolean
# or a null into a double, a fraction into a long, anything into a string); the schema
# says what is accepted, not what is sensible to send.
_ANY_SCALAR: dict[str, Any] = {"type": ["string", "number", "boolean", "null"]}
JSON_TYPES: dict[str, dict[str, Any]] = {
    "double": {"type": ["number", "boolean", "null"]},
    "float": {"type": ["number", "boolean", "null"]},
    "long": {"type": ["number", "boolean"]},
    "integer": {"type": ["number", "boolean"]},
    "boolean": _ANY_SCALAR,
    "string": _ANY_SCALAR,
}
Column = tuple[str, dict[str, Any], bool]


def column_schemas(signature: dict[str, Any]) -> list[Column]:
    """(name, JSON schema, required) per input column, when every column is named and of a
    plain type; [] otherwise (tensor signatures, objects, arrays: the generic schema)."""
    inputs = signature.get("inputs") or []
    found = []
    for column in inputs:
        if not isinstance(column, dict) or "name" not in column:
            return []
        schema = JSON_TYPES.get(str(column.get("type")))
        if schema is None:
            return []
        found.append((str(column["name"]), schema, bool(column.get("required", True))))
    return found


def _record_schema(columns: list[Column]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: schema for name, schema, _ in columns},
        "required": [name for name, _, required in columns if required],
    }


def _envelope(field: str, schema: dict[str, Any]) -> dict[str, Any]:
    """``field`` and optionally params; other fields are ignored, except the other input
    fields and the chat keys, which would change how the body is read."""
    others = [key for key in (*_ENVELOPES, *LLM_KEYS) if key != field]
    return {
        "type": "object",
        "properties": {field: schema, "params": {}},
        "required": [field],
        "propertyNames": {"not": {"enum": others}},
    }


def invocations_schema(columns: list[Column]) -> dict[str, Any]:
    """The request schema of the served model's own columns (in their signature order)."""
    row = {
        "type": "array",
        "prefixItems": [schema for _, schema, _ in columns],
        "minItems": len(columns),
        "maxItems": len(columns),
    }
    split = {
        "type": "object",
        "properties": {
            "columns": {"const": [name for name, _, _ in columns]},
            "data": {"type": "array", "items": row, "minItems": 1},
        },
        "required": ["columns", "data"],
        "additionalProperties": False,
    }
    records = {"type": "array", "items": _record_schema(columns), "minItems": 1}
    return {
        "description": "The served model's columns as dataframe_split or dataframe_records "
        "(instances, inputs, chat payloads, text/csv and Parquet are accepted too; see "
        "docs/api.md).",
        "oneOf": [_envelope("dataframe_split", split), _envelope("dataframe_records", records)],
    }


def predict_schema(columns: list[Column]) -> dict[str, Any]:
    record = _record_schema(columns)
    return {"oneOf": [record, {"type": "array", "items": record, "minItems": 1}]}


def operation(route: Route, served: ServedModel | None) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.summary,
        "tags": [route.tag],
        "responses": {str(status): _response(route, status) for status in route.statuses},
    }
    if route.description:
        op["description"] = route.description
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in route.params
    ] + list(route.query)
    if parameters:
        op["parameters"] = parameters
    if route.predict is not None:
        op["requestBody"] = _request_body(route, served)
    if route.tag == "admin":
        op["security"] = [{}, {"bearer": []}]
    return op


def document(
    routes: tuple[Route, ...],
    title: str,
    version: str,
    description: str,
    served: ServedModel | None,
) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = operation(route, served)
    errors = {route.errors.name: route.errors.schema for route in routes}
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA, **errors},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }

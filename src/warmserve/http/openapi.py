"""The OpenAPI document, generated from the route table.

Every status a route can answer is documented (with the error schema), GET and
POST of one path have their own operation ids, /metrics is text, and request
examples come from the served model's own input example, so "Try it out"
works against the model that is actually served.
"""

from __future__ import annotations

from typing import Any

from warmserve.http.routes import Route

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "error_code": {"type": "string", "example": "BAD_REQUEST"},
        "message": {"type": "string"},
    },
    "required": ["error_code", "message"],
}
STATUS_TEXT = {
    200: "OK",
    202: "Accepted: the check runs in the background",
    400: "Bad request: malformed body, wrong shape, input limits, signature mismatch",
    401: "The admin token is missing or wrong",
    404: "No such model or version",
    405: "Method not allowed (the Allow header lists the allowed ones)",
    413: "The body exceeds max_body_bytes",
    415: "Unsupported content type or charset",
    422: "The model failed on input that passed parsing",
    503: "No model is loaded, or the model process is being replaced (see Retry-After)",
    504: "No answer within request_timeout",
}
REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Exactly one of dataframe_split, dataframe_records, instances, inputs; "
    "optionally params.",
    "properties": {
        "dataframe_split": {
            "type": "object",
            "properties": {
                "columns": {"type": "array", "items": {}},
                "data": {"type": "array", "items": {}},
                "index": {"type": "array", "items": {}},
            },
        },
        "dataframe_records": {"type": "array", "items": {"type": "object"}},
        "instances": {},
        "inputs": {},
        "params": {"type": "object"},
    },
}
PREDICTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"predictions": {}},
    "required": ["predictions"],
}


def _response(route: Route, status: int) -> dict[str, Any]:
    text = STATUS_TEXT.get(status, "")
    if status >= 400:
        response: dict[str, Any] = {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        if status == 503:
            response["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
        return response
    if route.response_type != "application/json":
        return {
            "description": text,
            "content": {route.response_type: {"schema": {"type": "string"}}},
        }
    schema = PREDICTIONS_SCHEMA if route.predict is not None else {"type": "object"}
    response = {"description": text, "content": {"application/json": {"schema": schema}}}
    if route.predict is not None:
        response["headers"] = {
            "X-Model-Version": {
                "schema": {"type": "string"},
                "description": "the version that answered",
            }
        }
    return response


def _request_body(route: Route, served_example: Any) -> dict[str, Any]:
    assert route.predict is not None
    content: dict[str, Any] = {}
    for media in route.predict.content_types:
        if media == "text/csv":
            content[media] = {"schema": {"type": "string"}, "example": _csv_example(served_example)}
        else:
            schema = REQUEST_SCHEMA if route.name == "invocations" else {"type": "object"}
            content[media] = {"schema": schema, "example": route.predict.example(served_example)}
    return {"required": True, "content": content}


def _csv_example(served_example: Any) -> str:
    split = served_example.get("dataframe_split") if isinstance(served_example, dict) else None
    if not split or split.get("columns") is None:
        return "x\n1.0\n"
    rows = [",".join(str(v) for v in row) for row in split.get("data", [])[:3]]
    return "\n".join([",".join(str(c) for c in split["columns"]), *rows]) + "\n"


def operation(route: Route, served_example: Any) -> dict[str, Any]:
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
        op["requestBody"] = _request_body(route, served_example)
    if route.tag == "admin":
        op["security"] = [{}, {"bearer": []}]
    return op


def document(
    routes: tuple[Route, ...], title: str, version: str, description: str, served_example: Any
) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = operation(route, served_example)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }

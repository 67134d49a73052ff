"""The route table drives matching, metric labels, FastAPI's routes and the OpenAPI
document; these tests keep the four from drifting apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from warmserve.http import openapi
from warmserve.http.app import _handlers, create_app
from warmserve.http.frontend import PredictFrontend
from warmserve.http.routes import (
    PREDICT_ROUTES,
    ROUTES,
    PredictSpec,
    Route,
    RouteTable,
    invocations_envelope,
)
from warmserve.ipc.client import RunnerClient
from warmserve.protocol import ServedModel
from warmserve.settings import Settings

INFER_SPEC = PREDICT_ROUTES[0].predict
assert INFER_SPEC is not None
INFER = Route(
    "infer", "POST", "/x/models/{name}/score", "a templated route", "predict", (200, 400),
    PredictSpec(INFER_SPEC.decode, invocations_envelope, ("application/json",), lambda e: e),
)  # fmt: skip
READY = Route("model_ready", "GET", "/x/models/{name}/ready", "ready?", "health", (200,))


def test_templates_match_with_their_path_parameters() -> None:
    table = RouteTable((*ROUTES, INFER, READY))
    assert table.candidates("/x/models/iris/score") == ([INFER], {"name": "iris"})
    assert table.candidates("/x/models/iris/ready") == ([READY], {"name": "iris"})
    assert table.candidates("/x/models/a/b/score") == ([], {})  # a parameter is one segment
    assert table.candidates("/x/models//score") == ([], {})
    reload_routes, params = table.candidates("/reload")
    assert {route.method for route in reload_routes} == {"GET", "POST"} and params == {}


def test_one_template_with_two_methods_gives_both_candidates() -> None:
    get = Route("infer_get", "GET", INFER.path, "no", "predict", (405,))
    routes, params = RouteTable((INFER, get)).candidates("/x/models/m/score")
    assert routes == [INFER, get] and params == {"name": "m"}


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/invocations", "/invocations"),
        ("/health/ready", "/health/ready"),
        ("/x/models/iris/score", "/x/models/{name}/score"),
        ("/x/models/iris/score/extra", "other"),
        ("/wp-admin.php", "other"),
        ("/docs", "other"),
    ],
)
def test_metric_labels_are_templates_or_other(path: str, label: str) -> None:
    assert RouteTable((*ROUTES, INFER)).label(path) == label


def test_route_names_are_unique_and_every_route_has_a_handler_or_a_predict_spec(
    tmp_path: Path,
) -> None:
    names = [route.name for route in ROUTES]
    assert len(names) == len(set(names))
    handlers = _handlers(Settings(home=tmp_path), RunnerClient(str(tmp_path / "runner.sock")))
    for route in ROUTES:
        assert (route.predict is None) == (route.name in handlers), route.name
    assert set(handlers) == {route.name for route in ROUTES if route.predict is None}


def document(example: Any = None, routes: tuple[Route, ...] = ROUTES) -> dict[str, Any]:
    served = ServedModel(version="1", input_example=example) if example is not None else None
    return openapi.document(routes, "t", "0", "d", served)


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): op
        for path, methods in doc["paths"].items()
        for method, op in methods.items()
    }


def test_openapi_operations_are_the_table_with_unique_ids_and_declared_statuses() -> None:
    routes = (*ROUTES, INFER)
    doc = document(routes=routes)
    ops = operations(doc)
    assert set(ops) == {(route.method, route.path) for route in routes}
    ids = [op["operationId"] for op in ops.values()]
    assert len(ids) == len(set(ids))
    for route in routes:
        op = ops[(route.method, route.path)]
        assert set(op["responses"]) == {str(status) for status in route.statuses}, route.name
        for status, response in op["responses"].items():
            assert response["description"], (route.name, status)
            if int(status) >= 400:
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref.removeprefix("#/components/schemas/") in doc["components"]["schemas"]
            if status == "503":
                assert "Retry-After" in response["headers"]
        path_params = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
        assert path_params == list(route.params)
        assert ("requestBody" in op) == (route.predict is not None)
        assert ("security" in op) == (route.tag == "admin")


def test_metrics_are_text_and_predictions_carry_the_version_header() -> None:
    ops = operations(document())
    assert set(ops[("GET", "/metrics")]["responses"]["200"]["content"]) == {"text/plain"}
    for route in PREDICT_ROUTES:
        ok = ops[(route.method, route.path)]["responses"]["200"]
        assert "X-Model-Version" in ok["headers"]


def test_request_examples_come_from_the_served_models_input_example() -> None:
    served = {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3, 4]]}}
    ops = operations(document(served))
    invocations = ops[("POST", "/invocations")]["requestBody"]["content"]
    assert invocations["application/json"]["example"] == served
    predict = ops[("POST", "/predict")]["requestBody"]["content"]
    assert predict["application/json"]["example"] == {"a": 1, "b": 2}


@pytest.mark.parametrize("served", [None, {"inputs": [1, 2]}, {"dataframe_split": {"data": []}}])
def test_request_examples_without_a_usable_input_example(served: Any) -> None:
    ops = operations(document(served))
    invocations = ops[("POST", "/invocations")]["requestBody"]["content"]
    predict = ops[("POST", "/predict")]["requestBody"]["content"]
    assert predict["application/json"]["example"] == {"x": 1.0}
    if served is None:
        example = invocations["application/json"]["example"]
        assert example == {"dataframe_split": {"columns": ["x"], "data": [[1.0]]}}


def test_the_app_registers_exactly_the_tables_other_routes(tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path), RunnerClient(str(tmp_path / "runner.sock")))
    assert isinstance(app, PredictFrontend)
    assert isinstance(app.app, FastAPI)
    registered = {
        (method, route.path)
        for route in app.app.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    docs = {("GET", "/openapi.json"), ("GET", "/docs")}
    table = {(route.method, route.path) for route in ROUTES if route.predict is None}
    assert registered - docs == table
    assert not {path for _, path in registered} & {route.path for route in PREDICT_ROUTES}

"""The status view: why no model, the history as a person reads it, the try-it form, links."""

from __future__ import annotations

from typing import Any

import pytest

from warmserve.events import Event
from warmserve.http.status_view import (
    availability,
    form_view,
    history_view,
    mlflow_links,
    status_view,
)
from warmserve.http.views import model_view
from warmserve.protocol import LoadFailure, ModelState, ServedModel, WatcherStatus

IRIS_SIGNATURE = {
    "inputs": [
        {"type": "double", "name": "sepal_length_cm", "required": True},
        {"type": "long", "name": "count", "required": True},
        {"type": "string", "name": "label", "required": False},
        {"type": "boolean", "name": "flag", "required": True},
    ]
}


def served(version: str = "1", signature: Any = None, example: Any = None) -> ServedModel:
    return ServedModel(
        version, name="iris", alias="production", run_id="abc123",
        signature=IRIS_SIGNATURE if signature is None else signature, input_example=example,
    )  # fmt: skip


def state(model: ServedModel | None = None, **status: Any) -> ModelState:
    status = {"source": "models:/iris@production", **status}
    return ModelState("default", model, WatcherStatus(**status))


@pytest.mark.parametrize(
    ("current", "reason", "words"),
    [
        (None, "runner_unavailable", "starting or being replaced"),
        (state(served()), "serving", "Serving version 1"),
        (state(served(), healthy=False), "unhealthy", "being replaced"),
        (state(source=None), "no_source", "No model source is configured"),
        (state(registry_error="connection refused"), "registry_down", "connection refused"),
        (state(last_failure=LoadFailure("3", "bad pickle", 1.0, 2)), "load_failed",
         "Version 3 failed to load (attempt 2): bad pickle"),
        (state(source_missing="alias 'production' does not exist"), "source_missing",
         "alias 'production' does not exist"),
        (state(), "loading", "Loading the first version"),
    ],
)  # fmt: skip
def test_the_page_says_plainly_why_no_model_is_served(
    current: ModelState | None, reason: str, words: str
) -> None:
    found = availability(current)
    assert found["reason"] == reason
    assert found["ready"] == (reason == "serving")
    assert words in found["message"]


def test_history_newest_first_with_repeated_failures_folded_and_outage_lengths() -> None:
    events = [
        Event(100.0, "started", {"workers": 2, "source": "models:/iris@production"}),
        Event(101.0, "swap", {"model": "default", "version": "1", "previous": None,
                              "load_seconds": 0.5}),
        Event(110.0, "kept_out", {"model": "default", "version": "2", "error": "boom",
                                  "attempts": 1, "serving": "1"}),
        Event(120.0, "kept_out", {"model": "default", "version": "2", "error": "boom",
                                  "attempts": 2, "serving": "1"}),
        Event(130.0, "registry_down", {"model": "default", "error": "refused"}),
        Event(172.0, "registry_up", {"model": "default"}),
        Event(180.0, "restart", {"role": "runner", "name": "runner", "reason": "exited with -9"}),
        Event(181.0, "resumed", {"model": "default", "version": "1"}),
        Event(190.0, "swap", {"model": "default", "version": "3", "previous": "1",
                              "load_seconds": 1.25}),
    ]  # fmt: skip
    entries = history_view(list(reversed(events)))  # any order in, newest first out
    assert [e["kind"] for e in entries] == [
        "swap", "resumed", "restart", "registry_up", "registry_down", "kept_out", "swap", "started"
    ]  # fmt: skip
    summaries = [e["summary"] for e in entries]
    assert summaries[0] == "Version 3 (was 1) swapped in, loaded in 1.25 s."
    assert summaries[2] == "Model process replaced: exited with -9."
    assert summaries[3] == "Registry reachable again after 42 s."
    kept = entries[5]
    assert kept["attempts"] == 2 and kept["since"] == "1970-01-01T00:01:50+00:00"
    assert kept["summary"] == "Version 2 kept out after 2 attempt(s) (still serving 1): boom"
    assert entries[0]["time"] == "1970-01-01T00:03:10+00:00"
    assert len(history_view(events, limit=3)) == 3


def test_the_form_has_a_typed_field_per_column_prefilled_from_the_example() -> None:
    example = {"dataframe_split": {"columns": ["count", "sepal_length_cm", "flag"],
                                   "data": [[3, 5.1, True], [4, 6.0, False]]}}  # fmt: skip
    form = form_view(served(example=example))
    assert form is not None and form["kind"] == "columns" and form["version"] == "1"
    assert [(f["name"], f["field"], f["required"], f["value"]) for f in form["fields"]] == [
        ("sepal_length_cm", "number", True, 5.1),
        ("count", "integer", True, 3),
        ("label", "text", False, None),
        ("flag", "boolean", True, True),
    ]


def test_the_form_key_follows_the_signature_not_the_version() -> None:
    one, two = form_view(served("1")), form_view(served("2"))
    other = form_view(served("3", signature={"inputs": [{"type": "double", "name": "x"}]}))
    assert one and two and other
    assert one["key"] == two["key"] != other["key"]


def test_tensor_and_unnamed_signatures_get_a_json_box() -> None:
    tensor = {"inputs": [{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}]}
    example = {"inputs": [[1.0, 2.0, 3.0, 4.0]]}
    form = form_view(served(signature=tensor, example=example))
    assert form is not None and form["kind"] == "json" and form["example"] == example
    bare = form_view(served(signature={}))
    assert bare is not None and bare["kind"] == "json" and bare["example"] == {"inputs": []}
    assert form_view(None) is None


def test_links_into_the_mlflow_ui_only_for_an_http_server_and_never_with_credentials() -> None:
    model = served()
    assert mlflow_links("sqlite:///x.db", model) == {"ui": None, "run": None, "model_version": None}
    assert mlflow_links("https://user:secret@mlflow.example:5000/", model) == {
        "ui": "https://mlflow.example:5000/",
        "run": "https://mlflow.example:5000/#/runs/abc123",
        "model_version": "https://mlflow.example:5000/#/models/iris/versions/1",
    }
    assert mlflow_links("http://127.0.0.1:5000", None)["run"] is None


def test_status_json_is_the_model_view_extended_not_forked() -> None:
    current = state(served())
    model = model_view(current, None, {"requests": 3.0}, "models:/iris@production")
    page = {"refresh_seconds": 2.0}
    view = status_view(model, current, [], [], page, mlflow_links(None, None), None)
    assert {key: view[key] for key in model} == model
    assert set(view) - set(model) == {
        "availability", "history", "charts", "form", "links", "trainer", "page"
    }  # fmt: skip
    unhealthy = state(served(), healthy=False)
    assert status_view(model, unhealthy, [], [], page, {}, None)["form"] is None

"""GET /model is built by one function from typed state; its keys are the documented ones."""

from __future__ import annotations

import json
import re
from typing import Any

from support import ROOT
from warmserve.http.views import model_view
from warmserve.metrics import totals
from warmserve.protocol import (
    HostStatus,
    LoadFailure,
    ModelState,
    Pong,
    PredictorInfo,
    ServedModel,
    WatcherStatus,
)

SERVED = ServedModel(
    version="2",
    name="iris",
    alias="production",
    source="models:/iris@production",
    load_uri="http://user:secret@registry/models/iris/2",
    run_id="abc",
    loaded_at=0.0,
    load_seconds=0.5,
    signature={"inputs": []},
    input_example={"dataframe_split": {"columns": ["a"], "data": [[1]]}},
    predictor=PredictorInfo("numeric-frame", {"columns": 4}, {}),
)
TOTALS = {"predictions_served": 3.0, "requests": 4.0, "cache_hits": 0.0, "batches": 2.0}


def state(served: ServedModel | None = SERVED, **status: Any) -> ModelState:
    return ModelState("default", served, WatcherStatus(source="models:/iris@production", **status))


def pong(**host: Any) -> Pong:
    return Pong(1, {"default": HostStatus(version="2", **host)}, {})


def test_a_ready_model() -> None:
    view = model_view(state(checks=7), pong(busy_for=0.12345, queued=2, batches=9), TOTALS, None)
    assert view["ready"] is True
    assert view["model"]["version"] == "2" and view["model"]["name"] == "iris"
    assert view["model"]["loaded_at"] == "1970-01-01T00:00:00+00:00"
    assert view["model"]["predictor"] == {
        "name": "numeric-frame",
        "detail": {"columns": 4},
        "declined": {},
    }
    assert "input_example" not in view["model"]  # internal fields never reach the API
    assert view["checks"] == 7 and view["source"] == "models:/iris@production"
    assert view["runner"] == {"busy_for": 0.123, "queued": 2, "batches": 9, "healthy": True}
    assert view["totals"] == TOTALS


def test_nothing_served_and_no_runner_answer() -> None:
    view = model_view(None, None, TOTALS, "models:/iris@production")
    assert view["ready"] is False and view["model"] is None and view["runner"] is None
    assert view["source"] == "models:/iris@production" and view["checks"] == 0
    failed = LoadFailure("3", "warm-up failed", 0.0, 2)
    view = model_view(state(None, last_failure=failed, registry_error="down"), None, {}, None)
    assert view["ready"] is False and view["model"] is None
    assert view["last_failure"] == {
        "version": "3",
        "error": "warm-up failed",
        "time": "1970-01-01T00:00:00+00:00",
        "attempts": 2,
    }
    assert view["registry_error"] == "down"


def test_an_unhealthy_host_is_not_ready_even_with_a_model_loaded() -> None:
    view = model_view(state(healthy=False), pong(healthy=False), TOTALS, None)
    assert view["ready"] is False and view["model"] is None
    assert view["runner"]["healthy"] is False


def test_every_text_that_may_hold_a_url_is_redacted() -> None:
    failed = LoadFailure("3", "http://user:secret@registry down", 0.0, 1)
    view = model_view(
        state(last_failure=failed, registry_error="secret", source_missing="secret"),
        None,
        TOTALS,
        None,
        redact=lambda text: text.replace("secret", "***"),
    )
    assert "secret" not in json.dumps(view)
    assert view["model"]["load_uri"] == "http://user:***@registry/models/iris/2"


def documented_view() -> dict[str, Any]:
    """The JSON example under "## GET /model" in docs/api.md."""
    text = (ROOT / "docs" / "api.md").read_text()
    section = text.split("## GET /model", 1)[1]
    match = re.search(r"```json\n(.*?)\n```", section, re.S)
    assert match, "docs/api.md has no JSON example under GET /model"
    parsed: dict[str, Any] = json.loads(match.group(1))
    return parsed


def test_the_documented_keys_are_the_views_keys() -> None:
    documented = documented_view()
    view = model_view(state(), pong(), totals([]), None)
    assert set(documented) == set(view)
    for nested in ("model", "runner", "totals"):
        assert set(documented[nested]) == set(view[nested]), nested
    assert set(documented["model"]["predictor"]) == set(view["model"]["predictor"])
    text = (ROOT / "docs" / "api.md").read_text()
    failure = model_view(state(last_failure=LoadFailure("1", "e", 0.0, 1)), None, {}, None)
    for key in failure["last_failure"]:  # documented in the prose below the example
        assert f"`{key}`" in text.split("## GET /model", 1)[1], key

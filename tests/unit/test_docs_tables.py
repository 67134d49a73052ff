"""Tables in the docs that mirror code are checked against the code."""

from __future__ import annotations

import re

from e2e.parity_cases import CASES
from support import ROOT
from warmserve import errors
from warmserve.http.routes import ROUTES

PREDICTION_ERRORS = (
    errors.BadRequest,
    errors.InvalidParameterValue,
    errors.PredictionFailed,
    errors.PayloadTooLarge,
    errors.UnsupportedMediaType,
    errors.InternalError,
    errors.ModelNotAvailable,
    errors.RunnerUnavailable,
    errors.ShuttingDown,
    errors.DeadlineExceeded,
)


def api_text() -> str:
    return (ROOT / "docs" / "api.md").read_text()


def documented_errors() -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for status, code in re.findall(r"^\| (\d{3}) \| `([A-Z_]+)` \|", api_text(), re.M):
        found.setdefault(code, set()).add(int(status))
    return found


def test_the_error_table_gives_each_code_the_status_the_code_answers() -> None:
    documented = documented_errors()
    assert documented, "docs/api.md has no error table"
    for code, statuses in documented.items():
        assert code in errors.BY_CODE, f"docs/api.md documents unknown error code {code}"
        assert statuses == {errors.BY_CODE[code].status}, code


def test_every_error_a_prediction_can_answer_is_documented() -> None:
    documented = documented_errors()
    missing = [cls.error_code for cls in PREDICTION_ERRORS if cls.error_code not in documented]
    assert not missing


def documented_routes() -> set[tuple[str, str]]:
    """(method, path) of every row of the first table of docs/api.md (the endpoints)."""
    text = (ROOT / "docs" / "api.md").read_text()
    table = text.split("| method | path | what it does |", 1)[1].split("\n\n", 1)[0]
    found = set()
    for methods, paths in re.findall(r"^\| ([A-Z, ]+) \| (.+?) \|", table, re.M):
        for path in re.findall(r"`([^`]+)`", paths):
            found |= {(method.strip(), path) for method in methods.split(",")}
    return found


def test_the_endpoint_table_lists_exactly_the_route_table() -> None:
    served_by_fastapi_itself = {("GET", "/docs"), ("GET", "/openapi.json")}
    routes = {(route.method, route.path) for route in ROUTES}
    assert documented_routes() == routes | served_by_fastapi_itself


def test_every_difference_from_mlflow_in_the_parity_table_is_documented() -> None:
    section = api_text().split("## Differences from mlflow models serve", 1)[1].split("\n## ")[0]
    undocumented = [
        (case.name, case.differs.doc)
        for case in CASES
        if case.differs is not None and case.differs.doc not in section
    ]
    assert not undocumented

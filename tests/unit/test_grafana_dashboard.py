"""deploy/grafana/warmserve.json: the status page's panels, valid PromQL, documented.

That every metric a query names is exported by a live server is checked in
tests/e2e/test_status_json.py against a real /metrics.
"""

from __future__ import annotations

import json
import re
from typing import Any

import promql_parser

from support import ROOT
from warmserve.http.routes import PREDICT_ROUTES

DASHBOARD = ROOT / "deploy" / "grafana" / "warmserve.json"
PANELS = {
    "Prediction requests / s by status class": ["2xx", "4xx", "5xx"],
    "Latency p50 / p95 / p99": ["p50", "p95", "p99"],
    "Rows per predict call": ["rows"],
    "Queue depth": ["queued"],
    "Cache hit rate": ["hit"],
    "In-flight requests": ["in flight"],
    "Served version": ["{{name}} version {{version}}"],
    "Swaps, kept-out versions, outages, restarts": [
        "load attempts", "versions kept out", "failed registry checks", "{{role}} restarts"
    ],
}  # fmt: skip


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def variables() -> dict[str, Any]:
    return {v["name"]: v for v in dashboard()["templating"]["list"]}


def test_the_dashboard_has_the_status_pages_panels() -> None:
    found = {p["title"]: [t["legendFormat"] for t in p["targets"]] for p in dashboard()["panels"]}
    assert found == PANELS
    ids = [panel["id"] for panel in dashboard()["panels"]]
    assert len(set(ids)) == len(ids)
    assert variables()["datasource"]["query"] == "prometheus"


def test_the_prediction_routes_are_those_of_the_route_table() -> None:
    routes = variables()["predict_routes"]["query"].split("|")
    # a template's braces are written [{] and [}]: the labels are matched as regular expressions
    assert [route.replace("[{]", "{").replace("[}]", "}") for route in routes] == [
        route.path for route in PREDICT_ROUTES
    ]
    literal = r"(?:[\w/.-]|\[\{\]|\[\}\])+"
    assert all(re.fullmatch(literal, route) for route in routes), "only literal characters"


def test_every_query_is_valid_promql() -> None:
    constant = variables()["predict_routes"]["query"]
    for panel in dashboard()["panels"]:
        for target in panel["targets"]:
            expr = target["expr"].replace("$__rate_interval", "1m")
            expr = expr.replace("$predict_routes", constant)
            promql_parser.parse(expr)  # raises ValueError on invalid PromQL


def test_every_query_is_documented() -> None:
    docs = (ROOT / "docs" / "status-page.md").read_text()
    for panel in dashboard()["panels"]:
        assert panel["title"] in docs
        for target in panel["targets"]:
            assert f"`{target['expr']}`" in docs, target["expr"]

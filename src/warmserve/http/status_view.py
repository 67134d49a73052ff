"""The status page's view: the ``/model`` view, extended with what a person needs.

``GET /status.json`` answers exactly what ``status_view`` returns, and the page
renders nothing else, so scripts and people see the same facts. The ``/model``
view is included unchanged (same builder, same keys); this module adds why no
model is served, the server's history (from its event log), the live series,
the "try it" form of the served signature, links into the MLflow UI and the
trainer's recent jobs. Pure functions of typed state: unit-tested without HTTP.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import orjson

from warmserve.events import Event
from warmserve.http.charts import series
from warmserve.http.views import iso
from warmserve.protocol import ModelState, ServedModel

HISTORY_LIMIT = 100
NUMBER_TYPES = {"double": "number", "float": "number", "long": "integer", "integer": "integer"}
FIELD_TYPES = {**NUMBER_TYPES, "boolean": "boolean", "string": "text", "datetime": "text"}


# --- why (not) ready ----------------------------------------------------------------
def availability(state: ModelState | None) -> dict[str, Any]:
    """Whether a model is served and, if not, the reason in one plain sentence."""
    if state is None:
        return _why("runner_unavailable", "The model process is starting or being replaced.")
    status = state.status
    if not status.healthy:
        return _why("unhealthy", "A loop of the model process died; the process is being replaced.")
    if state.served is not None:
        served = state.served
        return {"ready": True, "reason": "serving", "message": f"Serving version {served.version}."}
    if status.source is None:
        return _why(
            "no_source",
            "No model source is configured: start the server with --model "
            "models:/NAME@ALIAS (or set WARMSERVE_MODEL).",
        )
    if status.registry_error is not None:
        return _why(
            "registry_down", f"The model registry cannot be reached: {status.registry_error}"
        )
    if status.last_failure is not None:
        failure = status.last_failure
        return _why(
            "load_failed",
            f"Version {failure.version} failed to load (attempt {failure.attempts}): "
            f"{failure.error}",
        )
    if status.source_missing is not None:
        return _why("source_missing", f"Nothing to load yet: {status.source_missing}")
    return _why("loading", f"Loading the first version of {status.source}.")


def _why(reason: str, message: str) -> dict[str, Any]:
    return {"ready": False, "reason": reason, "message": message}


# --- history ------------------------------------------------------------------------
def _seconds(value: Any) -> str:
    return f"{value:.2f} s" if isinstance(value, int | float) else "?"


def summary(event: Event, down_since: float | None = None) -> str:
    """One sentence per event, as the page shows it."""
    f = event.fields
    kind = event.kind
    if kind == "swap":
        was = f" (was {f['previous']})" if f.get("previous") else ""
        return (
            f"Version {f.get('version')}{was} swapped in, "
            f"loaded in {_seconds(f.get('load_seconds'))}."
        )
    if kind == "resumed":
        return f"Version {f.get('version')} loaded again by a new model process."
    if kind == "kept_out":
        serving = f.get("serving")
        kept = f"still serving {serving}" if serving else "nothing served"
        return (
            f"Version {f.get('version')} kept out after {f.get('attempts')} attempt(s) "
            f"({kept}): {f.get('error')}"
        )
    if kind == "registry_down":
        return f"Registry unreachable: {f.get('error')}"
    if kind == "registry_up":
        after = f" after {event.time - down_since:.0f} s" if down_since is not None else ""
        return f"Registry reachable again{after}."
    if kind == "source_missing":
        return f"Model source not found: {f.get('error')}"
    if kind == "source_back":
        return "Model source found again."
    if kind == "unhealthy":
        return "A loop of the model process died; it is being replaced."
    if kind == "restart":
        role = "Model process" if f.get("role") == "runner" else f"HTTP worker {f.get('name')}"
        return f"{role} replaced: {f.get('reason')}."
    if kind == "started":
        return f"Server started with {f.get('workers')} HTTP worker(s), source {f.get('source')}."
    return kind


def history_view(events: Sequence[Event], limit: int = HISTORY_LIMIT) -> list[dict[str, Any]]:
    """Newest first. Repeated failures of one version are one entry (its latest attempt,
    with ``since`` the first); a recovery says how long the registry was down."""
    entries: list[dict[str, Any]] = []
    down_since: float | None = None
    for event in sorted(events, key=lambda e: e.time):
        if event.kind == "registry_down" and down_since is None:
            down_since = event.time
        entry = {
            **event.fields,
            "kind": event.kind,
            "time": iso(event.time),
            "summary": summary(event, down_since if event.kind == "registry_up" else None),
        }
        if event.kind == "registry_up":
            down_since = None
        last = entries[-1] if entries else None
        if (
            event.kind == "kept_out"
            and last is not None
            and last["kind"] == "kept_out"
            and last.get("version") == event.fields.get("version")
            and last.get("model") == event.fields.get("model")
        ):
            entry["since"] = last["since"]
            entries[-1] = entry
            continue
        if event.kind == "kept_out":
            entry["since"] = entry["time"]
        entries.append(entry)
    return entries[::-1][:limit]


# --- "try it" -----------------------------------------------------------------------
def form_view(served: ServedModel | None) -> dict[str, Any] | None:
    """The form for the served signature: a typed field per named column, prefilled from
    the input example; anything else (tensors, no signature) is one JSON box."""
    if served is None:
        return None
    inputs = served.signature.get("inputs") or []
    key = hashlib.sha256(orjson.dumps(inputs, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
    base = {"version": served.version, "key": key}
    columns = _named_columns(inputs)
    if columns is None:
        return {**base, "kind": "json", "example": _json_example(served)}
    example = _first_row(served.input_example)
    fields = [
        {
            "name": name,
            "type": kind,
            "field": FIELD_TYPES.get(kind, "text"),
            "required": required,
            "value": example.get(name),
        }
        for name, kind, required in columns
    ]
    return {**base, "kind": "columns", "fields": fields}


def _named_columns(inputs: Any) -> list[tuple[str, str, bool]] | None:
    if not isinstance(inputs, list) or not inputs:
        return None
    found = []
    for column in inputs:
        if not isinstance(column, dict) or not isinstance(column.get("name"), str):
            return None
        kind = str(column.get("type"))
        if kind not in FIELD_TYPES:
            return None
        found.append((column["name"], kind, bool(column.get("required", True))))
    return found


def _first_row(example: Any) -> dict[str, Any]:
    split = example.get("dataframe_split") if isinstance(example, dict) else None
    if not isinstance(split, dict):
        return {}
    columns, data = split.get("columns"), split.get("data")
    if not isinstance(columns, list) or not isinstance(data, list) or not data:
        return {}
    row = data[0] if isinstance(data[0], list) else []
    return {str(name): value for name, value in zip(columns, row, strict=False)}


def _json_example(served: ServedModel) -> Any:
    example = served.input_example
    if isinstance(example, dict) and example:
        return example
    return {"inputs": []}


# --- links and assembly -------------------------------------------------------------
def mlflow_links(tracking_uri: str | None, served: ServedModel | None) -> dict[str, str | None]:
    """Links into the MLflow UI when the tracking URI is an MLflow server (credentials in
    the URI are never shown)."""
    links: dict[str, str | None] = {"ui": None, "run": None, "model_version": None}
    if not tracking_uri or urlsplit(tracking_uri).scheme not in ("http", "https"):
        return links
    base = without_credentials(tracking_uri).rstrip("/")
    links["ui"] = base + "/"
    if served is not None and served.run_id:
        links["run"] = f"{base}/#/runs/{quote(served.run_id, safe='')}"
    if served is not None and served.name:
        name, version = quote(served.name, safe=""), quote(served.version, safe="")
        links["model_version"] = f"{base}/#/models/{name}/versions/{version}"
    return links


def without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def status_view(
    model: dict[str, Any],
    state: ModelState | None,
    events: Sequence[Event],
    samples: Sequence[dict[str, Any]],
    page: dict[str, Any],
    links: dict[str, str | None],
    trainer: dict[str, Any] | None,
) -> dict[str, Any]:
    """GET /status.json: the ``/model`` view (unchanged) plus the page's own parts."""
    served = state.served if state is not None and state.status.healthy else None
    return {
        **model,
        "availability": availability(state),
        "history": history_view(events),
        "charts": series(samples),
        "form": form_view(served),
        "links": links,
        "trainer": trainer,
        "page": page,
    }

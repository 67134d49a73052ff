"""warmserve against `mlflow models serve`, request by request (issue 11).

Both servers run on the same registered model — MLflow's real scoring server as a
subprocess in its own process group, warmserve as `warmserve serve` — and every row
of the table in parity_cases.py is sent to both. Each server starts once per model.
MLflow's own clients (the scoring-server client, `mlflow models predict`) are run
against warmserve too.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from parity_cases import CASES, Case, Request
from parity_models import register_all, uri

from support import MlflowModelsServe, Server
from warmserve.settings import Settings

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Pair:
    model: str
    mlflow: MlflowModelsServe
    warmserve: Server


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Every parity model, registered once in one SQLite registry."""
    settings = Settings(home=tmp_path_factory.mktemp("parity") / "home")
    register_all(settings, sorted({case.model for case in CASES}))
    return settings


@pytest.fixture(scope="module")
def pair(request: pytest.FixtureRequest, registry: Settings) -> Iterator[Pair]:
    """`mlflow models serve` and `warmserve serve` on one model (one pair per model)."""
    model = str(request.param)
    mlflow = MlflowModelsServe(
        registry.home / "mlflow", uri(model), registry.resolved_tracking_uri()
    )
    warmserve: Server | None = None
    try:
        warmserve = Server(registry.home, "--model", uri(model))
        warmserve.wait_ready()
        mlflow.wait_ready()
        yield Pair(model, mlflow, warmserve)
    finally:
        mlflow.stop()
        if warmserve is not None:
            warmserve.stop()


@dataclass(frozen=True)
class Answer:
    status: int
    text: str
    document: Any  # the parsed JSON body, or None when the body is not JSON

    @property
    def error(self) -> dict[str, Any]:
        return self.document if isinstance(self.document, dict) else {}


def send(client: httpx.Client, request: Request) -> Answer:
    # a new connection each time: uvicorn drops the connection of a request that crashed
    # MLflow's server (the 500s of the table)
    headers = {"Connection": "close"}
    if request.content_type:
        headers["Content-Type"] = request.content_type
    response = client.request(request.method, request.path, content=request.body, headers=headers)
    try:
        document = json.loads(response.text)  # Python's reader: NaN and Infinity included
    except ValueError:
        document = None
    return Answer(response.status_code, response.text, document)


def canonical(document: Any) -> str:
    """JSON values compared as values: key order aside, NaN equal to NaN."""
    return json.dumps(document, sort_keys=True)


@pytest.mark.parametrize(
    ("pair", "case"), [(case.model, case) for case in CASES], indirect=["pair"],
    ids=[case.name for case in CASES], scope="module",  # one pair of servers per model
)  # fmt: skip
def test_warmserve_answers_as_mlflow_models_serve(pair: Pair, case: Case) -> None:
    mlflow = send(pair.mlflow.client, case.request)
    ours = send(pair.warmserve.client, case.request)
    assert ours.status == case.status, ours.text[:2000]
    if case.status != 200:
        assert ours.error.get("error_code") == case.code, ours.text[:2000]
    if case.differs is not None:
        assert mlflow.status == case.differs.mlflow_status, mlflow.text[:2000]
        if case.differs.mlflow_code is not None:
            assert mlflow.error.get("error_code") == case.differs.mlflow_code
        return
    assert mlflow.status == case.status, mlflow.text[:2000]
    if case.status == 200:
        if mlflow.document is None:
            assert ours.text == mlflow.text
        else:
            assert canonical(ours.document) == canonical(mlflow.document)
    elif "error_code" in mlflow.error:  # MLflow's own error body (not a framework's text)
        for key in ("error_code", "error_class", "sqlstate"):
            assert ours.error.get(key) == mlflow.error.get(key), (key, mlflow.text[:2000])
        assert set(ours.error) == set(mlflow.error) - {"stack_trace"}
    else:
        assert ours.document is not None, "warmserve's errors are always JSON"


def test_nan_and_infinity_are_written_as_mlflow_writes_them(registry: Settings) -> None:
    """Not null: the tokens Python's and pandas' JSON readers turn back into floats."""
    server = Server(registry.home, "--model", uri("shapes"))
    try:
        server.wait_ready()
        answer = server.client.post(
            "/invocations", json={"dataframe_records": [{"kind": "nan_array"}]}
        )
        assert answer.text == '{"predictions":[NaN, Infinity, -Infinity, 1.0]}'
        values = json.loads(answer.text)["predictions"]
        assert math.isnan(values[0]) and values[1:] == [math.inf, -math.inf, 1.0]
    finally:
        server.stop()


@pytest.mark.parametrize("pair", ["echo"], indirect=True, scope="module")
def test_mlflow_scoring_server_client_works_against_warmserve(pair: Pair) -> None:
    """MLflow's own client: waits on /ping, reads /version, sends frames (with NaN as
    the NaN token) and arrays, and reads the answers."""
    import numpy as np
    import pandas as pd
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    def client(url: str) -> ScoringServerClient:
        host, port = url.removeprefix("http://").split(":")
        return ScoringServerClient(host, int(port))

    ours, theirs = client(pair.warmserve.url), client(pair.mlflow.url)
    ours.wait_server_ready(timeout=30)
    assert ours.get_version() == theirs.get_version()
    frame = pd.DataFrame({"a": [1.0, np.nan], "b": ["x", "y"]}, index=[3, 4])
    for data in (frame, np.arange(6.0).reshape(2, 3), [1, 2, 3]):
        expected = theirs.invoke(data).get_predictions()
        found = ours.invoke(data).get_predictions()
        if isinstance(expected, pd.DataFrame):
            pd.testing.assert_frame_equal(found, expected)
        else:
            assert canonical(found) == canonical(expected)


@pytest.mark.parametrize(
    ("model", "payload"),
    [
        ("series", {"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2.0]]}}),
        ("chat", {"messages": [{"role": "user", "content": "hi"}], "temperature": 0.2}),
    ],
)
def test_mlflow_models_predict_gives_what_warmserve_answers(
    registry: Settings, tmp_path: Path, model: str, payload: dict[str, Any]
) -> None:
    """`mlflow models predict` scores a file locally with the scoring server's parsing and
    encoding: its output is what warmserve answers for the same body."""
    source, target = tmp_path / "input.json", tmp_path / "output.json"
    source.write_text(json.dumps(payload))
    env = {**os.environ, "MLFLOW_TRACKING_URI": registry.resolved_tracking_uri()}
    subprocess.run(
        [sys.executable, "-m", "mlflow", "models", "predict", "-m", uri(model), "-i",
         str(source), "-o", str(target), "-t", "json", "--env-manager", "local"],
        check=True, capture_output=True, env=env, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    server = Server(registry.home, "--model", uri(model))
    try:
        server.wait_ready()
        answer = server.client.post("/invocations", json=payload)
        assert answer.status_code == 200, answer.text
        assert canonical(answer.json()) == canonical(json.loads(target.read_text()))
    finally:
        server.stop()


def test_stack_traces_are_answered_only_when_exposed(registry: Settings) -> None:
    """A model's own exception text is not answered (MLflow's rule for exceptions that are
    not MlflowExceptions); its stack trace only with expose_stack_traces."""
    failing = {"dataframe_records": [{"x": 1.0}]}
    for expose in (False, True):
        server = Server(
            registry.home, "--model", uri("raiser"), "--expose-stack-traces", str(expose)
        )
        try:
            server.wait_ready()
            answer = server.client.post("/invocations", json=failing)
            assert answer.status_code == 400
            error = answer.json()
            assert "secret internals" not in error["message"]
            if expose:
                assert "ValueError: secret internals" in error["stack_trace"]
            else:
                assert "stack_trace" not in error
            assert "Traceback" not in server.log()  # logged at debug level only
        finally:
            server.stop()

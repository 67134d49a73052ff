"""The core server against a real SQLite MLflow registry and a real uvicorn socket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support import IRIS_ROW, Server, cli, register_recorder, wait_until
from warmserve.settings import Settings


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("serving") / "home"
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def iris(home: Path) -> Iterator[Server]:
    """`warmserve train` then `warmserve serve` on the trained alias."""
    result = cli(
        home, "train", "--dataset", "iris", "--name", "iris-clf", "--promote", "production"
    )
    assert "run id:" in result.stdout
    assert "iris-clf version 1" in result.stdout
    assert "accuracy" in result.stdout
    server = Server(home, "--model", "models:/iris-clf@production", "--workers", "2")
    server.wait_ready()
    yield server
    assert server.stop() == 0


def test_train_register_alias_serve_predict(iris: Server, home: Path) -> None:
    response = iris.client.post("/invocations", json={"dataframe_records": [IRIS_ROW]})
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": [0]}
    assert response.headers["x-model-version"] == "1"
    assert response.headers["content-type"] == "application/json"

    model = iris.client.get("/model").json()
    assert model["ready"] is True
    described = model["model"]
    assert described["name"] == "iris-clf"
    assert described["version"] == "1"
    assert described["alias"] == "production"
    assert described["source"] == "models:/iris-clf@production"
    assert described["run_id"]
    assert described["loaded_at"]
    names = [column["name"] for column in described["signature"]["inputs"]]
    assert names == list(IRIS_ROW)

    listed = cli(home, "models").stdout
    assert "iris-clf" in listed and "production" in listed


def test_every_scoring_input_form(iris: Server) -> None:
    columns = list(IRIS_ROW)
    values = list(IRIS_ROW.values())
    forms = [
        {"dataframe_split": {"columns": columns, "data": [values, values]}},
        {"dataframe_records": [IRIS_ROW, IRIS_ROW]},
        {"instances": [IRIS_ROW, IRIS_ROW]},
        {"inputs": {name: [value, value] for name, value in IRIS_ROW.items()}},
    ]
    for body in forms:
        response = iris.client.post("/invocations", json=body)
        assert response.status_code == 200, (body, response.text)
        assert response.json() == {"predictions": [0, 0]}, body
    csv = ",".join(columns) + "\n" + ",".join(map(str, values)) + "\n"
    response = iris.client.post(
        "/invocations", content=csv, headers={"Content-Type": "text/csv; charset=utf-8"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": [0]}

    simple = iris.client.post("/predict", json=IRIS_ROW)
    assert simple.status_code == 200, simple.text
    assert simple.json() == {"predictions": [0], "model": {"name": "iris-clf", "version": "1"}}
    assert simple.headers["x-model-version"] == "1"
    many = iris.client.post("/predict", json=[IRIS_ROW, IRIS_ROW])
    assert many.json()["predictions"] == [0, 0]


BAD_REQUESTS = [
    # (body bytes, content type, status, error code, words the message must contain)
    (b'{"dataframe_records": [', "application/json", 400, "BAD_REQUEST", "malformed JSON"),
    (b"", "application/json", 400, "BAD_REQUEST", "empty"),
    (b"[1, 2]", "application/json", 400, "BAD_REQUEST", "object"),
    (b'{"data": [[1]]}', "application/json", 400, "BAD_REQUEST", "exactly one of"),
    (
        b'{"dataframe_records": [], "instances": []}',
        "application/json",
        400,
        "BAD_REQUEST",
        "exactly one of",
    ),
    (b'{"dataframe_split": [[1, 2]]}', "application/json", 400, "BAD_REQUEST", "dataframe_split"),
    (
        b'{"dataframe_split": {"columns": ["a"]}}',
        "application/json",
        400,
        "BAD_REQUEST",
        "data field",
    ),
    (b'{"dataframe_records": {"a": 1}}', "application/json", 400, "BAD_REQUEST", "list"),
    (b'{"dataframe_records": [1, 2]}', "application/json", 400, "BAD_REQUEST", "object"),
    (
        # a frame that cannot be built: 3 values for 2 columns
        b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2, 3]]}}',
        "application/json",
        400,
        "BAD_REQUEST",
        "dataframe",
    ),
    (
        # violates the signature: a string where a double is required
        b'{"dataframe_records": [{"sepal_length_cm": "wide", "sepal_width_cm": 3.5,'
        b' "petal_length_cm": 1.4, "petal_width_cm": 0.2}]}',
        "application/json",
        400,
        "BAD_REQUEST",
        "sepal_length_cm",
    ),
    (
        # violates the signature: a required column is missing
        b'{"dataframe_records": [{"sepal_length_cm": 5.1}]}',
        "application/json",
        400,
        "INVALID_PARAMETER_VALUE",
        "petal_length_cm",
    ),
    (b"a,b\n1,2\n", "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE", "text/plain"),
    (b"{}", "application/json; charset=latin-1", 415, "UNSUPPORTED_MEDIA_TYPE", "charset"),
    (b"{}", "application/json; format=pandas-split", 415, "UNSUPPORTED_MEDIA_TYPE", "format"),
    (b"{}", "", 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type"),
    (b"\xff\xfe", "text/csv", 400, "BAD_REQUEST", "UTF-8"),
]


@pytest.mark.parametrize(("body", "content_type", "status", "code", "words"), BAD_REQUESTS)
def test_invocations_rejects_bad_input_with_a_clear_4xx(
    iris: Server, body: bytes, content_type: str, status: int, code: str, words: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = iris.client.post("/invocations", content=body, headers=headers)
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["error_code"] == code
    assert words.lower() in payload["message"].lower(), payload["message"]
    # the worker survived: the next request is served
    ok = iris.client.post("/invocations", json={"dataframe_records": [IRIS_ROW]})
    assert ok.status_code == 200


def test_unknown_route_method_and_oversized_body(iris: Server) -> None:
    missing = iris.client.get("/nope")
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "NOT_FOUND"
    wrong = iris.client.get("/invocations")
    assert wrong.status_code == 405
    assert wrong.json()["error_code"] == "METHOD_NOT_ALLOWED"
    huge = b'{"dataframe_records": [' + b'{"a": 1},' * 4_000_000 + b'{"a": 1}]}'
    too_big = iris.client.post(
        "/invocations", content=huge, headers={"Content-Type": "application/json"}
    )
    assert too_big.status_code == 413
    assert too_big.json()["error_code"] == "PAYLOAD_TOO_LARGE"


def test_openapi_docs_work_offline(iris: Server) -> None:
    page = iris.client.get("/docs")
    assert page.status_code == 200
    assert "http://" not in page.text and "https://" not in page.text
    assert iris.client.get("/docs/static/swagger-ui-bundle.js").status_code == 200
    assert iris.client.get("/docs/static/swagger-ui.css").status_code == 200
    spec = iris.client.get("/openapi.json").json()
    assert {"/invocations", "/predict", "/model", "/reload"} <= set(spec["paths"])


def test_reload_accepts_post_and_get(iris: Server) -> None:
    for method in ("POST", "GET"):
        response = iris.client.request(method, "/reload")
        assert response.status_code == 202, response.text
        assert response.json()["version"] == "1"
    waited = iris.client.post("/reload", params={"wait": "true"})
    assert waited.status_code == 200
    assert waited.json() == {"version": "1", "error": None}


def test_promote_moves_the_alias_and_the_server_follows(iris: Server, home: Path) -> None:
    cli(home, "train", "--dataset", "iris", "--name", "iris-clf", "--estimator", "random_forest")
    cli(home, "promote", "iris-clf", "2", "--alias", "production")
    assert iris.client.post("/reload", params={"wait": "true"}).json()["version"] == "2"
    response = iris.client.post("/invocations", json={"dataframe_records": [IRIS_ROW]})
    assert response.headers["x-model-version"] == "2"
    assert response.json() == {"predictions": [0]}


def test_starts_without_a_model_and_becomes_ready_once_registered(tmp_path: Path) -> None:
    home = tmp_path / "home"
    server = Server(home, "--model", "models:/late@production", "--load-retry-interval", "0.5")
    try:
        wait_until(lambda: server.client.get("/health/live").status_code == 200, what="live")
        assert server.client.get("/health/ready").status_code == 503
        for health in ("/ping", "/health"):  # MLflow's health checks: not ready without a model
            answer = server.client.get(health)
            assert answer.status_code == 503
            assert answer.json()["error_code"] == "MODEL_NOT_AVAILABLE"
        response = server.client.post("/invocations", json={"dataframe_records": [{"x": 1.0}]})
        assert response.status_code == 503
        assert response.json()["error_code"] == "MODEL_NOT_AVAILABLE"
        assert "Retry-After" in response.headers
        predict = server.client.post("/predict", json={"x": 1.0})
        assert predict.status_code == 503
        wait_until(lambda: "model is not available" in server.log(), what="the log line")

        register_recorder(Settings(home=home), "late")
        server.wait_ready()
        ok = server.client.post("/invocations", json={"dataframe_records": [{"x": 1.5}]})
        assert ok.status_code == 200
        assert ok.json() == {"predictions": [{"y": 3.0}]}
    finally:
        assert server.stop() == 0


def test_typed_signature_string_integer_float(tmp_path: Path) -> None:
    import pandas as pd

    home = tmp_path / "home"
    data = tmp_path / "plans.csv"
    rows = 200
    pd.DataFrame(
        {
            "plan": ["basic", "pro", "team", "basic"] * (rows // 4),
            "seats": [1, 5, 20, 2] * (rows // 4),
            "spend": [9.5, 49.0, 199.0, 12.0] * (rows // 4),
            "churned": [1, 0, 0, 1] * (rows // 4),
        }
    ).to_csv(data, index=False)
    cli(
        home,
        "train",
        "--data",
        str(data),
        "--target",
        "churned",
        "--name",
        "churn",
        "--promote",
        "production",
    )
    server = Server(home, "--model", "models:/churn@production")
    try:
        server.wait_ready()
        inputs = {
            c["name"]: c["type"]
            for c in server.client.get("/model").json()["model"]["signature"]["inputs"]
        }
        assert inputs == {"plan": "string", "seats": "long", "spend": "double"}
        good = {"plan": "basic", "seats": 1, "spend": 9.5}
        response = server.client.post("/invocations", json={"dataframe_records": [good]})
        assert response.status_code == 200, response.text
        assert response.json() == {"predictions": [1]}
        bad = {"plan": "basic", "seats": "many", "spend": 9.5}
        response = server.client.post("/invocations", json={"dataframe_records": [bad]})
        assert response.status_code == 400
        assert "seats" in response.json()["message"]
    finally:
        server.stop()


def test_pandas_split_json_with_index_as_mlflow_clients_send_it(iris: Server) -> None:
    import pandas as pd

    frame = pd.DataFrame([IRIS_ROW, IRIS_ROW], index=[10, 11])
    body = '{"dataframe_split": ' + frame.to_json(orient="split") + "}"
    response = iris.client.post(
        "/invocations", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": [0, 0]}

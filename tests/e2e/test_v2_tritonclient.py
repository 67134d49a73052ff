"""The Open Inference Protocol v2 against real servers, through the real Python
tritonclient[http]: in its default binary mode and with binary_data=False (JSON), on a
model with numeric, string and boolean columns and params, and on a scikit-learn model
trained by `warmserve train` and sent one 2-D tensor, as Triton users do."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest
import tritonclient.http as triton
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema
from tritonclient.utils import InferenceServerException

from support import IRIS_ROW, MODELS, Server, cli, register_code_model, samples, value, wait_until
from warmserve.registry import connect
from warmserve.settings import Settings

POLL = ["--poll-interval", "0.3", "--load-retry-interval", "0.3"]
MODES = pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
TYPED_SIGNATURE = ModelSignature(
    inputs=Schema(
        [ColSpec("double", "x"), ColSpec("long", "n"), ColSpec("string", "s"),
         ColSpec("boolean", "flag")]
    ),
    outputs=Schema([ColSpec("double", "y"), ColSpec("string", "label"),
                    ColSpec("boolean", "negated")]),
    params=ParamSchema([ParamSpec("scale", "double", 1.0)]),
)  # fmt: skip


def register_typed(settings: Settings, alias: str | None = "production") -> str:
    example = pd.DataFrame({"x": [1.5], "n": [2], "s": ["a"], "flag": [True]})
    return register_code_model(
        settings, "typed", MODELS / "typed_columns.py", TYPED_SIGNATURE, example, alias=alias
    )


def client_of(server: Server) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(url=server.url.removeprefix("http://"))


def infer_input(name: str, array: np.ndarray[Any, Any], binary: bool) -> triton.InferInput:
    datatype = "BYTES" if array.dtype == object else triton.np_to_triton_dtype(array.dtype)
    tensor = triton.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


def typed_inputs(binary: bool) -> list[triton.InferInput]:
    columns = {
        "x": np.array([[1.5], [-2.0]]),
        "n": np.array([[1], [2]], dtype=np.int64),
        "s": np.array([["abc"], ["ünï"]], dtype=object),
        "flag": np.array([[True], [False]]),
    }
    return [infer_input(name, array, binary) for name, array in columns.items()]


def outputs_for(names: list[str], binary: bool) -> list[triton.InferRequestedOutput] | None:
    """Binary mode asks for nothing (the client then wants every output binary)."""
    return None if binary else [triton.InferRequestedOutput(n, binary_data=False) for n in names]


def refusal(call: Callable[[], Any]) -> tuple[str | None, str]:
    """The status and message the client's exception reports."""
    with pytest.raises(InferenceServerException) as caught:
        call()
    return caught.value.status(), caught.value.message()


@dataclass
class Typed:
    server: Server
    client: triton.InferenceServerClient
    settings: Settings
    empty: dict[str, Any]  # what the client saw before the model had any version

    def version(self) -> str:
        return str(self.client.get_model_metadata("typed")["versions"][0])


@pytest.fixture(scope="module")
def typed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Typed]:
    home = tmp_path_factory.mktemp("v2-typed") / "home"
    settings = Settings(home=home)
    server = Server(home, "--model", "models:/typed@production", "--cache", "local", *POLL)
    client = client_of(server)
    try:
        empty = {
            "live": client.is_server_live(),
            "ready": client.is_server_ready(),
            "model_ready": client.is_model_ready("typed"),
            "infer": refusal(lambda: client.infer("typed", typed_inputs(True))),
        }
        register_typed(settings)
        server.wait_ready()
        yield Typed(server, client, settings, empty)
    finally:
        client.close()
        assert server.stop() == 0


def test_before_any_version_exists_the_server_is_live_not_ready_and_infer_is_503(
    typed: Typed,
) -> None:
    assert typed.empty["live"] is True
    assert typed.empty["ready"] is False
    assert typed.empty["model_ready"] is False
    assert typed.empty["infer"] == ("503", "model is not available")


def test_health_and_metadata_come_from_the_signature(typed: Typed) -> None:
    client, version = typed.client, typed.version()
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("typed") and client.is_model_ready("typed", version)
    assert not client.is_model_ready("other") and not client.is_model_ready("typed", "99")
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    metadata = client.get_model_metadata("typed")
    assert metadata == client.get_model_metadata("typed", version)
    assert metadata["name"] == "typed" and metadata["platform"] == "mlflow"
    assert metadata["inputs"] == [
        {"name": "x", "datatype": "FP64", "shape": [-1, 1]},
        {"name": "n", "datatype": "INT64", "shape": [-1, 1]},
        {"name": "s", "datatype": "BYTES", "shape": [-1, 1]},
        {"name": "flag", "datatype": "BOOL", "shape": [-1, 1]},
    ]
    assert metadata["outputs"] == [
        {"name": "y", "datatype": "FP64", "shape": [-1, 1]},
        {"name": "label", "datatype": "BYTES", "shape": [-1, 1]},
        {"name": "negated", "datatype": "BOOL", "shape": [-1, 1]},
    ]
    status, message = refusal(lambda: client.get_model_metadata("other"))
    assert status == "404" and "model 'other' is not served here" in message


@MODES
def test_infer_numeric_string_and_boolean_columns_with_params(typed: Typed, binary: bool) -> None:
    result = typed.client.infer(
        "typed",
        typed_inputs(binary),
        outputs=outputs_for(["y", "label", "negated"], binary),
        request_id=f"req-{binary}",
        parameters={"scale": 10.0},
    )
    response = result.get_response()
    assert response["model_name"] == "typed"
    assert response["model_version"] == typed.version()
    assert response["id"] == f"req-{binary}"
    names = [(o["name"], o["datatype"], o["shape"]) for o in response["outputs"]]
    assert names == [("y", "FP64", [2, 1]), ("label", "BYTES", [2, 1]), ("negated", "BOOL", [2, 1])]
    assert all(("parameters" in o) == binary for o in response["outputs"])  # binary_data_size
    assert result.as_numpy("y").tolist() == [[25.0], [0.0]]  # (x + n) * scale
    labels = result.as_numpy("label").reshape(-1).tolist()
    assert labels == ([b"ABC", "ÜNÏ".encode()] if binary else ["ABC", "ÜNÏ"])
    assert result.as_numpy("negated").tolist() == [[False], [True]]


@MODES
def test_errors_reach_the_client_exception_with_status_and_message(
    typed: Typed, binary: bool
) -> None:
    client = typed.client
    one = [infer_input("x", np.array([[1.0]]), binary)]
    cases = {
        "unknown model": (lambda: client.infer("other", one), "404", "not served here"),
        "other version": (
            lambda: client.infer("typed", one, model_version="99"),
            "404",
            "version '99' of model 'typed' is not served",
        ),
        "unknown input": (
            lambda: client.infer("typed", [infer_input("z", np.array([[1.0]]), binary)]),
            "400",
            "unknown input 'z': the model's inputs are x, n, s, flag",
        ),
        "missing inputs": (
            lambda: client.infer("typed", one),
            "400",
            "Model is missing inputs ['n', 's', 'flag']",
        ),
        "text for a double": (
            lambda: client.infer(
                "typed",
                [
                    infer_input("x", np.array([["one"], ["two"]], dtype=object), binary),
                    *typed_inputs(binary)[1:],
                ],
            ),
            "400",
            "Failed to enforce schema",  # MLflow's own words, as /invocations answers them
        ),
        "unknown output": (
            lambda: client.infer(
                "typed", typed_inputs(binary), outputs=[triton.InferRequestedOutput("z", binary)]
            ),
            "400",
            "the model has no output 'z'; its outputs are y, label, negated",
        ),
    }
    for case, (call, status, fragment) in cases.items():
        got_status, message = refusal(call)
        assert got_status == status, (case, message)
        assert fragment in message, case


def test_v2_answers_carry_the_version_and_share_the_cache_and_metrics(typed: Typed) -> None:
    body = {
        "inputs": [
            {"name": "x", "datatype": "FP64", "shape": [1], "data": [0.5]},
            {"name": "n", "datatype": "INT64", "shape": [1], "data": [3]},
            {"name": "s", "datatype": "BYTES", "shape": [1], "data": ["q"]},
            {"name": "flag", "datatype": "BOOL", "shape": [1], "data": [False]},
        ],
    }
    client = typed.server.client
    first = client.post("/v2/models/typed/infer", json=body)
    second = client.post("/v2/models/typed/infer", json=body)
    assert first.status_code == second.status_code == 200, first.text
    assert first.json() == second.json()
    assert first.json()["outputs"][0]["data"] == [3.5]
    assert [r.headers["x-cache"] for r in (first, second)] == ["miss", "hit"]
    assert first.headers["x-model-version"] == first.json()["model_version"]
    found = samples(typed.server)
    route = "/v2/models/{name}/infer"
    assert value(found, "warmserve_requests_total", route=route, status="200") >= 2
    assert value(found, "warmserve_requests_total", route=route, status="400") >= 1


def test_a_version_swap_is_seen_in_model_version(typed: Typed) -> None:
    """Last in this module: it moves the alias the other tests follow."""
    before = typed.version()
    newer = register_typed(typed.settings, alias=None)
    connect(typed.settings).set_registered_model_alias("typed", "production", newer)

    def answered_by_newer() -> bool:
        result = typed.client.infer("typed", typed_inputs(True))
        return bool(result.get_response()["model_version"] == newer)

    wait_until(answered_by_newer, 120, what=f"version {newer} in model_version")
    assert typed.client.get_model_metadata("typed")["versions"] == [newer]
    status, message = refusal(
        lambda: typed.client.infer("typed", typed_inputs(True), model_version=before)
    )
    assert status == "404" and f"version '{before}' of model 'typed' is not served" in message
    pinned = typed.client.infer("typed", typed_inputs(False), model_version=newer)
    assert pinned.get_response()["model_version"] == newer


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("v2-iris") / "home"
    cli(home, "train", "--dataset", "iris", "--name", "iris", "--promote", "production")
    server = Server(home, "--model", "models:/iris@production")
    try:
        server.wait_ready()
        yield server
    finally:
        assert server.stop() == 0


ROWS = np.array(
    [list(IRIS_ROW.values()), [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]], dtype=np.float64
)


@MODES
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_one_2d_tensor_for_an_all_numeric_signature(
    iris: Server, binary: bool, dtype: type[np.floating[Any]]
) -> None:
    rows = ROWS.astype(dtype)
    records = [dict(zip(IRIS_ROW, map(float, row), strict=True)) for row in rows]
    expected = iris.client.post("/invocations", json={"dataframe_records": records}).json()
    with client_of(iris) as client:
        [output] = client.get_model_metadata("iris")["outputs"]
        assert output == {"name": "predictions", "datatype": "INT64", "shape": [-1]}
        result = client.infer(
            "iris",
            [infer_input("input__0", rows, binary)],
            outputs=outputs_for([output["name"]], binary),
        )
    assert result.as_numpy("predictions").tolist() == expected["predictions"]


@MODES
def test_one_tensor_per_column_on_the_trained_model(iris: Server, binary: bool) -> None:
    with client_of(iris) as client:
        metadata = client.get_model_metadata("iris")
        assert [i["name"] for i in metadata["inputs"]] == list(IRIS_ROW)
        assert {i["datatype"] for i in metadata["inputs"]} == {"FP64"}
        inputs = [infer_input(name, ROWS[:, [j]], binary) for j, name in enumerate(IRIS_ROW)]
        result = client.infer("iris", inputs, outputs=outputs_for(["predictions"], binary))
    assert result.as_numpy("predictions").tolist()[0] == 0  # the setosa row


def test_a_raw_request_without_content_type_is_json(iris: Server) -> None:
    tensor = {"name": "m", "datatype": "FP32", "shape": [1, 4], "data": [5.1, 3.5, 1.4, 0.2]}
    body = orjson.dumps({"inputs": [tensor]})
    with httpx.Client(base_url=iris.url, timeout=30) as client:
        request = client.build_request("POST", "/v2/models/iris/infer", content=body)
        assert "content-type" not in request.headers  # as tritonclient sends it
        response = client.send(request)
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == [0]
    assert response.headers["x-model-version"] == response.json()["model_version"] == "1"

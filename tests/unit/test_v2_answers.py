"""Writing v2 answers (JSON, binary, both in one answer), read back by the real
tritonclient's parser; and the v2 error shape, driven through the real ASGI app."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
import tritonclient.http as triton

from warmserve.errors import BadRequest, NotFound
from warmserve.http.app import create_app
from warmserve.http.exchange import ModelRef, Prediction
from warmserve.http.service import PredictionService
from warmserve.http.v2.request import InferRequest, Requested
from warmserve.http.v2.response import write_answer
from warmserve.ipc.client import RunnerClient
from warmserve.protocol import OutputForm, PredictReply, ServedModel, TensorMetadata
from warmserve.runtime.tensors.encode import encode_tensors
from warmserve.settings import Settings

METADATA = TensorMetadata(
    [],
    [
        {"name": "y", "datatype": "FP32", "shape": [-1, 1]},
        {"name": "label", "datatype": "BYTES", "shape": [-1, 1]},
        {"name": "ok", "datatype": "BOOL", "shape": [-1, 1]},
    ],
)
OUTPUT = {"y": np.array([0.1, 2.5]), "label": ["a", "bé"], "ok": [True, False]}


def request(
    outputs: tuple[Requested, ...] | None = None,
    binary: bool = False,
    request_id: str | None = None,
) -> InferRequest:
    return InferRequest(request_id, [], None, outputs, binary)


def answer_of(req: InferRequest, version: str = "4") -> tuple[Any, dict[str, str], str]:
    """Write the answer as the worker does and parse it as tritonclient does."""
    form = OutputForm.V2_BINARY if req.wants_binary else OutputForm.V2_JSON
    body = encode_tensors(OUTPUT, form, METADATA)
    answer = write_answer(req, Prediction(body, version, "m", False), req.wants_binary)
    length = answer.headers.get("Inference-Header-Content-Length")
    result = triton.InferenceServerClient.parse_response_body(
        answer.body, header_length=int(length) if length else None
    )
    return result, answer.headers, answer.media_type


def assert_outputs(result: Any, binary: bool) -> None:
    assert result.as_numpy("y").tolist() == [[np.float32(0.1)], [2.5]]
    assert result.as_numpy("y").dtype == np.float32
    labels = [b"a", "bé".encode()] if binary else ["a", "bé"]  # tritonclient's own choice
    assert result.as_numpy("label").reshape(-1).tolist() == labels
    assert result.as_numpy("ok").reshape(-1).tolist() == [True, False]


def test_json_answer_echoes_the_id_and_names_the_version() -> None:
    result, headers, media = answer_of(request(request_id="r-1"))
    response = result.get_response()
    assert (response["model_name"], response["model_version"], response["id"]) == ("m", "4", "r-1")
    assert [o["name"] for o in response["outputs"]] == ["y", "label", "ok"]
    assert [o["datatype"] for o in response["outputs"]] == ["FP32", "BYTES", "BOOL"]
    assert all(o["shape"] == [2, 1] for o in response["outputs"])
    assert "Inference-Header-Content-Length" not in headers and media == "application/json"
    assert response["outputs"][0]["data"] == [0.1, 2.5]  # float32 written as float32
    assert_outputs(result, binary=False)


def test_binary_answer_puts_every_output_after_the_json_header() -> None:
    result, headers, media = answer_of(request(binary=True))
    outputs = result.get_response()["outputs"]
    assert [o["parameters"]["binary_data_size"] for o in outputs] == [8, 4 + 1 + 4 + 3, 2]
    assert all("data" not in o for o in outputs)
    assert "id" not in result.get_response()
    assert media == "application/octet-stream" and int(headers["Inference-Header-Content-Length"])
    assert_outputs(result, binary=True)


def test_asked_outputs_come_in_the_asked_order_each_binary_or_json_as_asked() -> None:
    asked = (Requested("ok", False), Requested("y", True), Requested("label"))
    result, _, _ = answer_of(request(asked, binary=False))
    outputs = result.get_response()["outputs"]
    assert [o["name"] for o in outputs] == ["ok", "y", "label"]
    assert outputs[0]["data"] == [True, False] and "data" not in outputs[1]
    assert outputs[2]["data"] == ["a", "bé"]  # converted from the raw form the runner wrote
    assert result.as_numpy("y").reshape(-1).tolist() == [np.float32(0.1), 2.5]


def test_an_output_the_model_does_not_have_is_a_bad_request_naming_its_outputs() -> None:
    with pytest.raises(BadRequest, match="no output 'z'; its outputs are y, label, ok"):
        answer_of(request((Requested("z"),)))


def test_model_ref_checks_name_and_version_and_names_unregistered_models_model() -> None:
    served = ServedModel(version="3", name="iris")
    assert ModelRef("iris", "3").check(served) is served
    with pytest.raises(NotFound, match="model 'wine' is not served here"):
        ModelRef("wine").check(served)
    with pytest.raises(NotFound, match="version '2' of model 'iris' is not served"):
        ModelRef("iris", "2").check(served)
    assert ModelRef("model").check(ServedModel(version="run-1", name=None)).version == "run-1"


class SwappedClient:
    """Stands in for the runner connection (no runner process in unit tests): it says
    version 1 is served, but version 2 answers, as when a swap lands mid-request."""

    def served(self, model: str = "default") -> ServedModel:
        return ServedModel(version="1", name="m")

    async def predict(self, *args: Any, **kwargs: Any) -> PredictReply:
        return PredictReply(1, b"[]", "2")


def test_a_version_swapped_out_during_the_request_is_404(tmp_path: Path) -> None:
    service = PredictionService(Settings(home=tmp_path), SwappedClient())  # type: ignore[arg-type]
    from warmserve.http.codecs import ModelInput
    from warmserve.protocol import InputForm

    model_input = ModelInput(InputForm.TENSORS, [], None, "digest")
    unpinned = asyncio.run(service.predict(model_input, wanted=ModelRef("m")))
    assert unpinned.version == "2"
    with pytest.raises(NotFound, match="version '1' was swapped out") as caught:
        asyncio.run(service.predict(model_input, wanted=ModelRef("m", "1")))
    assert caught.value.version == "2"


def call(tmp_path: Path, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request through the real app; its runner connection is never started, so
    nothing is served (the prediction service waits its short grace, then says 503)."""
    app = create_app(Settings(home=tmp_path), RunnerClient(str(tmp_path / "none.sock")))

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


VALID = orjson.dumps({"inputs": [{"name": "x", "datatype": "FP64", "shape": [1], "data": [1]}]})


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "fragment"),
    [
        ("POST", "/v2/models/m/infer", b"{", 400, "malformed JSON"),
        ("POST", "/v2/models/m/versions/1/infer", b'{"inputs": []}', 400, "non-empty list"),
        ("POST", "/v2/models/m/infer", VALID, 503, "model is not available"),
        ("GET", "/v2/models/m/infer", None, 405, "use POST"),
        ("GET", "/v2/health/ready", None, 503, "model is not available"),
        ("GET", "/v2/models/m", None, 503, "model is not available"),
        ("GET", "/v2/models/m/versions/1/ready", None, 503, "model is not available"),
        ("GET", "/v2/repository/index", None, 404, "no route GET /v2/repository/index"),
        ("POST", "/v2/health/live", None, 405, "not allowed"),
    ],
)
def test_every_v2_error_is_the_v2_shape(
    tmp_path: Path, method: str, path: str, body: bytes | None, status: int, fragment: str
) -> None:
    response = call(tmp_path, method, path, content=body)
    assert response.status_code == status
    assert list(response.json()) == ["error"] and fragment in response.json()["error"]
    if status == 503:
        assert response.headers["retry-after"] == "1"


def test_v2_liveness_and_server_metadata_need_no_model(tmp_path: Path) -> None:
    assert call(tmp_path, "GET", "/v2/health/live").json() == {"live": True}
    server = call(tmp_path, "GET", "/v2").json()
    assert server["name"] == "warmserve" and "binary_tensor_data" in server["extensions"]


def test_warmserve_routes_keep_their_own_error_shape(tmp_path: Path) -> None:
    assert set(call(tmp_path, "GET", "/health/ready").json()) == {"error_code", "message"}
    assert set(call(tmp_path, "GET", "/nowhere").json()) == {"error_code", "message"}
    invocations = call(
        tmp_path, "POST", "/invocations", content=b"{", headers={"content-type": "application/json"}
    )
    assert invocations.json()["error_code"] == "BAD_REQUEST"

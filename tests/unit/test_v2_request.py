"""Reading v2 inference requests in the HTTP worker: bodies made by the real tritonclient
(binary and JSON, every datatype) become the same tensors, and the model process reads
them back as the arrays that were sent; malformed bodies are 400s that name the fault."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson
import pytest
import tritonclient.http as triton

from warmserve.errors import BadRequest
from warmserve.http.exchange import Incoming
from warmserve.http.limits import InputLimits
from warmserve.http.v2.infer import fingerprint, open_infer
from warmserve.http.v2.request import decode_infer
from warmserve.protocol import InputForm, OutputForm
from warmserve.runtime.tensors.wire import to_array

LIMITS = InputLimits()
ARRAYS: dict[str, np.ndarray[Any, Any]] = {
    "BOOL": np.array([[True, False, True]]),
    "UINT8": np.array([[0, 7, 255]], dtype=np.uint8),
    "UINT16": np.array([[0, 7, 65535]], dtype=np.uint16),
    "UINT32": np.array([[0, 7, 2**32 - 1]], dtype=np.uint32),
    "UINT64": np.array([[0, 7, 2**64 - 1]], dtype=np.uint64),
    "INT8": np.array([[-128, 0, 127]], dtype=np.int8),
    "INT16": np.array([[-(2**15), 0, 2**15 - 1]], dtype=np.int16),
    "INT32": np.array([[-(2**31), 0, 2**31 - 1]], dtype=np.int32),
    "INT64": np.array([[-(2**63), 0, 2**63 - 1]], dtype=np.int64),
    "FP16": np.array([[-1.5, 0.0, 65504.0]], dtype=np.float16),
    "FP32": np.array([[-1.5, 0.1, 3.0e38]], dtype=np.float32),
    "FP64": np.array([[-1.5, 0.1, 1e308]], dtype=np.float64),
    "BYTES": np.array([["plain", "ünïcode", ""]], dtype=object),
}


def triton_body(
    arrays: dict[str, np.ndarray[Any, Any]], binary: bool, **options: Any
) -> tuple[bytes, str | None]:
    """A request body exactly as tritonclient[http] writes it, and its header value."""
    inputs = []
    for name, array in arrays.items():
        datatype = "BYTES" if array.dtype == object else triton.np_to_triton_dtype(array.dtype)
        tensor = triton.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    body, json_size = triton.InferenceServerClient.generate_request_body(inputs, **options)
    return body, None if json_size is None else str(json_size)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("datatype", list(ARRAYS))
def test_every_datatype_reaches_the_model_process_as_sent(datatype: str, binary: bool) -> None:
    sent = ARRAYS[datatype]
    body, header = triton_body({"t": sent}, binary)
    assert (header is not None) == binary
    request = decode_infer(body, header, LIMITS)
    [tensor] = request.inputs
    assert tensor[:3] == ["t", datatype, [1, 3]]
    received = to_array(tensor)
    assert received.shape == sent.shape
    if datatype == "BYTES":
        assert received.tolist() == sent.tolist()  # strings, as they were sent
    else:
        assert received.dtype == sent.dtype
        assert np.array_equal(received, sent)


@pytest.mark.parametrize("datatype", list(ARRAYS))
def test_json_and_binary_give_the_same_tensors_and_cache_fingerprint(datatype: str) -> None:
    forms = [decode_infer(*triton_body({"t": ARRAYS[datatype]}, b), LIMITS) for b in (1, 0)]
    assert forms[0].inputs == forms[1].inputs
    assert fingerprint(forms[0].inputs) == fingerprint(forms[1].inputs)


def test_binary_bytes_that_are_not_utf8_stay_bytes() -> None:
    raw = np.array([[b"\xff\xfe", b"ok"]], dtype=object)
    request = decode_infer(*triton_body({"b": raw}, True), LIMITS)
    assert to_array(request.inputs[0]).tolist() == [[b"\xff\xfe", "ok"]]


def test_id_parameters_and_requested_outputs_are_read() -> None:
    outputs = [
        triton.InferRequestedOutput("y", binary_data=False),
        triton.InferRequestedOutput("p", binary_data=True),
    ]
    body, header = triton_body(
        {"x": ARRAYS["FP64"]},
        True,
        outputs=outputs,
        request_id="req-7",
        priority=3,
        parameters={"threshold": 0.5, "label": "a"},
    )
    request = decode_infer(body, header, LIMITS)
    assert request.id == "req-7"
    assert request.params == {
        "threshold": 0.5,
        "label": "a",
    }  # priority is Triton's, not the model's
    assert [(out.name, out.binary) for out in request.outputs or ()] == [("y", False), ("p", True)]
    assert request.wants_binary


def test_without_requested_outputs_tritonclient_asks_for_binary_outputs() -> None:
    request = decode_infer(*triton_body({"x": ARRAYS["FP64"]}, False), LIMITS)
    assert request.outputs is None and request.binary_output and request.wants_binary
    assert request.params is None  # binary_data_output steers the protocol, not the model


def test_nested_and_flat_json_data_are_the_same_tensor() -> None:
    nested = {
        "inputs": [{"name": "m", "datatype": "INT32", "shape": [2, 2], "data": [[1, 2], [3, 4]]}]
    }
    flat = {"inputs": [{"name": "m", "datatype": "INT32", "shape": [2, 2], "data": [1, 2, 3, 4]}]}
    assert (
        decode_infer(orjson.dumps(nested), None, LIMITS).inputs
        == decode_infer(orjson.dumps(flat), None, LIMITS).inputs
    )


def test_a_body_without_the_header_is_json_whatever_its_content_type() -> None:
    body, _ = triton_body({"x": ARRAYS["FP32"]}, False)
    for content_type in (None, "text/csv", "application/octet-stream"):
        headers = {} if content_type is None else {"content-type": content_type}
        exchange = open_infer(Incoming(body, headers, {"name": "m"}, LIMITS))
        assert exchange.model_input.form is InputForm.TENSORS
        assert exchange.output is OutputForm.V2_BINARY


def test_the_exchange_names_the_model_and_version_of_the_path() -> None:
    body, header = triton_body({"x": ARRAYS["FP32"]}, True)
    headers = {"inference-header-content-length": str(header)}
    exchange = open_infer(Incoming(body, headers, {"name": "iris", "version": "3"}, LIMITS))
    assert (exchange.wanted.name, exchange.wanted.version) == ("iris", "3")
    assert exchange.model_input.fingerprint == fingerprint(exchange.model_input.data)


def tensor(**fields: Any) -> dict[str, Any]:
    return {"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1.0, 2.0], **fields}


def body_of(*tensors: dict[str, Any], **fields: Any) -> bytes:
    return orjson.dumps({"inputs": list(tensors), **fields})


def with_tail(document: dict[str, Any], tail: bytes) -> tuple[bytes, str]:
    head = orjson.dumps(document)
    return head + tail, str(len(head))


BINARY_X = {"name": "x", "datatype": "FP32", "shape": [1, 2], "parameters": {"binary_data_size": 8}}
MALFORMED: list[tuple[str, bytes, str | None, str]] = [
    ("empty body", b"", None, "body is empty"),
    ("not JSON", b"{inputs", None, "malformed JSON"),
    ("not an object", b"[1, 2]", None, "JSON object"),
    ("no inputs", b'{"id": "a"}', None, "inputs must be a non-empty list"),
    ("empty inputs", body_of(), None, "inputs must be a non-empty list"),
    ("input not an object", b'{"inputs": [3]}', None, "inputs[0] must be an object"),
    ("no name", body_of(tensor(name="")), None, "needs a name"),
    ("unknown datatype", body_of(tensor(datatype="FLOAT")), None, "is not one of"),
    ("BF16", body_of(tensor(datatype="BF16")), None, "is not one of"),
    ("shape not a list", body_of(tensor(shape=2)), None, "shape must be a list"),
    ("negative size", body_of(tensor(shape=[-1, 2])), None, "shape must be a list"),
    ("fractional size", body_of(tensor(shape=[1.0, 2])), None, "shape must be a list"),
    ("no elements", body_of(tensor(shape=[0, 2], data=[])), None, "has no elements"),
    ("too few values", body_of(tensor(data=[1.0])), None, "has 1 values for shape [1, 2]"),
    ("ragged data", body_of(tensor(data=[[1.0], 2.0])), None, "mixes lists and values"),
    ("data not a list", body_of(tensor(data="1,2")), None, "data must be a list"),
    ("no data", body_of({"name": "x", "datatype": "FP32", "shape": [1]}), None, "neither data"),
    ("fraction in INT32", body_of(tensor(datatype="INT32", data=[1, 2.5])), None, "does not fit"),
    ("300 in UINT8", body_of(tensor(datatype="UINT8", data=[1, 300])), None, "does not fit"),
    ("text in FP32", body_of(tensor(data=["1", 2])), None, "does not fit"),
    ("null in FP64", body_of(tensor(datatype="FP64", data=[None, 2])), None, "does not fit"),
    ("FP32 overflow", body_of(tensor(data=[1e39, 2])), None, "out of the range of FP32"),
    ("FP16 overflow", body_of(tensor(datatype="FP16", data=[1e6, 2])), None, "does not fit"),
    ("1 in BOOL", body_of(tensor(datatype="BOOL", data=[1, True])), None, "true or false"),
    ("number in BYTES", body_of(tensor(datatype="BYTES", data=["a", 5])), None, "strings"),
    ("twice the same input", body_of(tensor(), tensor()), None, "given twice"),
    ("id not a string", body_of(tensor(), id=5), None, "id must be a string"),
    ("parameters not an object", body_of(tensor(), parameters=[1]), None, "must be an object"),
    ("binary_data_output not bool", body_of(tensor(), parameters={"binary_data_output": 1}),
     None, "binary_data_output must be true or false"),
    ("outputs not a list", body_of(tensor(), outputs={"name": "y"}), None, "must be a list"),
    ("output without name", body_of(tensor(), outputs=[{}]), None, "outputs[0] needs a name"),
    ("classification", body_of(tensor(), outputs=[{"name": "y", "parameters":
     {"classification": 2}}]), None, "classification extension is not supported"),
    ("output twice", body_of(tensor(), outputs=[{"name": "y"}, {"name": "y"}]), None, "twice"),
    ("binary size without the header", body_of(BINARY_X), None, "no Inference-Header"),
    ("header not a number", body_of(tensor()), "12abc", "byte count of the JSON"),
    ("header past the body", body_of(tensor()), "100000", "but the body has"),
    ("binary part too short", *with_tail({"inputs": [BINARY_X]}, b"\0" * 4), "ends inside"),
    ("binary part too long", *with_tail({"inputs": [BINARY_X]}, b"\0" * 12), "add up to 8"),
    ("binary size wrong for the shape",
     *with_tail({"inputs": [{**BINARY_X, "parameters": {"binary_data_size": 4}}]}, b"\0" * 4),
     "takes 8 bytes"),
    ("data and binary",
     *with_tail({"inputs": [{**BINARY_X, "data": [1, 2]}]}, b"\0" * 8), "both data"),
    ("malformed BYTES",
     *with_tail({"inputs": [{"name": "s", "datatype": "BYTES", "shape": [1],
                             "parameters": {"binary_data_size": 6}}]},
                struct.pack("<I", 9) + b"ab"), "malformed BYTES"),
    ("BYTES count", *with_tail({"inputs": [{"name": "s", "datatype": "BYTES", "shape": [2],
                                            "parameters": {"binary_data_size": 6}}]},
                               struct.pack("<I", 2) + b"ab"), "1 BYTES elements for shape [2]"),
    ("nested too deep", body_of(tensor(data=[[[[[[[[[1.0, 2.0]]]]]]]]])), None, "levels deep"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "header", "fragment"), [case[1:] for case in MALFORMED], ids=[c[0] for c in MALFORMED]
)
def test_malformed_requests_are_bad_requests_that_say_why(
    body: bytes, header: str | None, fragment: str
) -> None:
    with pytest.raises(BadRequest) as caught:
        decode_infer(body, header, InputLimits(max_depth=8))
    assert fragment in caught.value.message


def test_input_limits_apply() -> None:
    rows = body_of(tensor(shape=[3, 1], data=[1, 2, 3]))
    with pytest.raises(BadRequest, match="max_rows"):
        decode_infer(rows, None, InputLimits(max_rows=2))
    many = body_of(*(tensor(name=f"c{i}") for i in range(3)))
    with pytest.raises(BadRequest, match="max_columns"):
        decode_infer(many, None, InputLimits(max_columns=2))

"""v2 tensors in the model process: metadata from MLflow signatures, the model input built
from tensors, outputs written as the metadata says, and batching (merge, parts) of
tensor requests, down to one predict call of a real MLflow pyfunc model."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema, TensorSpec
from mlflow.types.schema import Array

from support import MODELS, calls
from warmserve.protocol import InputForm, OutputForm, PredictRequest, TensorMetadata, join_bytes
from warmserve.runtime.batch import Job, Pending, batch_key, chunks, execute, payload_rows
from warmserve.runtime.predictors.pyfunc import PyfuncPredictor
from warmserve.runtime.tensors import wire
from warmserve.runtime.tensors.encode import encode_tensors
from warmserve.runtime.tensors.metadata import describe_model
from warmserve.runtime.tensors.model_input import model_input

COLUMNS = Schema(
    [ColSpec("double", "x"), ColSpec("long", "n"), ColSpec("string", "s"), ColSpec("boolean", "b")]
)
NUMERIC = Schema([ColSpec("double", "a"), ColSpec("float", "b"), ColSpec("long", "c")])


def tensor(name: str, array: np.ndarray[Any, Any], datatype: str | None = None) -> list[Any]:
    """A tensor as the HTTP worker sends it."""
    datatype = datatype or wire.datatype_of(array.dtype)
    if datatype == "BYTES":
        items = [v if isinstance(v, bytes) else str(v).encode() for v in array.reshape(-1)]
        raw = join_bytes(items)
    else:
        raw = array.astype(wire.numpy_dtype(datatype)).tobytes()
    return [name, datatype, list(array.shape), raw]


def column(values: list[Any], dtype: Any = None) -> np.ndarray[Any, Any]:
    return np.array(values, dtype=dtype).reshape(-1, 1)


# --- metadata ------------------------------------------------------------------------


def test_column_signatures_give_one_column_tensor_per_column_typed_by_mlflow_type() -> None:
    schema = Schema(
        [ColSpec(t, t) for t in ("boolean", "integer", "long", "float", "double", "string",
                                 "binary", "datetime")] + [ColSpec(Array("long"), "tags")]
    )  # fmt: skip
    described = describe_model(schema, None, None).inputs
    assert [(d["name"], d["datatype"]) for d in described] == [
        ("boolean", "BOOL"), ("integer", "INT32"), ("long", "INT64"), ("float", "FP32"),
        ("double", "FP64"), ("string", "BYTES"), ("binary", "BYTES"), ("datetime", "BYTES"),
        ("tags", "INT64"),
    ]  # fmt: skip
    assert [d["shape"] for d in described] == [[-1, 1]] * 8 + [[-1, -1]]


def test_tensor_signatures_keep_dtype_and_shape_and_name_unnamed_tensors() -> None:
    inputs = Schema([TensorSpec(np.dtype("float32"), (-1, 28, 28))])
    outputs = Schema([TensorSpec(np.dtype("int64"), (-1,))])
    described = describe_model(inputs, outputs, None)
    assert described.inputs == [{"name": "inputs", "datatype": "FP32", "shape": [-1, 28, 28]}]
    assert described.outputs == [{"name": "predictions", "datatype": "INT64", "shape": [-1]}]
    named = Schema(
        [TensorSpec(np.dtype("uint8"), (-1, 3), "img"), TensorSpec(np.dtype("bool"), (-1,), "m")]
    )
    assert [d["datatype"] for d in describe_model(named, None, None).inputs] == ["UINT8", "BOOL"]


@pytest.mark.parametrize(
    ("warm", "expected"),
    [
        (pd.DataFrame({"p": [0.5], "k": ["a"]}), [("p", "FP64", [-1, 1]), ("k", "BYTES", [-1, 1])]),
        (pd.Series([1, 2]), [("predictions", "INT64", [-1, 1])]),
        (np.zeros((2, 3), dtype=np.float32), [("predictions", "FP32", [-1, 3])]),
        ({"a": np.array([1]), "b": ["x"]}, [("a", "INT64", [-1]), ("b", "BYTES", [-1])]),
        ([True, False], [("predictions", "BOOL", [-1])]),
        ([{"score": 1.5}], [("score", "FP64", [-1, 1])]),
    ],
    ids=["frame", "series", "array", "dict", "list", "records"],
)
def test_without_an_output_signature_outputs_are_described_from_the_warm_up(
    warm: Any, expected: list[tuple[str, str, list[int]]]
) -> None:
    outputs = describe_model(None, None, warm).outputs
    assert [(o["name"], o["datatype"], o["shape"]) for o in outputs] == expected


def test_nothing_to_describe_is_empty_not_an_error() -> None:
    assert describe_model(None, None, None) == TensorMetadata([], [])
    assert describe_model(None, None, np.array([1 + 2j])).outputs == []  # no v2 datatype


# --- model input ---------------------------------------------------------------------


def test_column_tensors_become_a_frame_in_signature_order_with_mlflow_types() -> None:
    tensors = [
        tensor("b", column([True, False])),
        tensor("s", column(["a", "é"], object), "BYTES"),
        tensor("n", np.array([1.0, 2.0])),  # integral FP64 into a long column, 1-D
        tensor("x", column([1.5, 2.5], np.float32)),
    ]
    frame = model_input(tensors, COLUMNS)
    assert list(frame.columns) == ["x", "n", "s", "b"]
    assert frame["x"].dtype == np.float64 and frame["n"].dtype == np.int64
    assert frame["b"].dtype == bool and frame["s"].tolist() == ["a", "é"]
    assert frame["x"].tolist() == [1.5, 2.5]


def test_a_value_that_would_change_is_left_for_mlflow_to_refuse() -> None:
    frame = model_input([tensor("n", column([1.5]))], COLUMNS)
    assert frame["n"].dtype == np.float64  # not truncated to 1


def test_all_numeric_signatures_take_one_2d_tensor_in_column_order() -> None:
    matrix = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float16)
    frame = model_input([tensor("input__0", matrix)], NUMERIC)
    assert list(frame.columns) == ["a", "b", "c"]
    assert [str(t) for t in frame.dtypes] == ["float64", "float32", "int64"]
    assert frame.to_numpy().tolist() == matrix.astype(float).tolist()


def test_mixed_signatures_say_which_inputs_they_take() -> None:
    with pytest.raises(
        ValueError, match=r"unknown input 'input__0': the model's inputs are x, n, s, b$"
    ):
        model_input([tensor("input__0", np.ones((2, 4)))], COLUMNS)
    with pytest.raises(ValueError, match=r"or one 2-D tensor \[N, 3\]"):
        model_input([tensor("z", np.ones((2, 2)))], NUMERIC)
    with pytest.raises(ValueError, match="different numbers of rows"):
        model_input([tensor("x", column([1.0, 2.0])), tensor("n", column([1]))], COLUMNS)
    with pytest.raises(ValueError, match="not UTF-8"):
        model_input([tensor("s", column([b"\xff"], object), "BYTES")], COLUMNS)


def test_tensor_signatures_get_the_array_cast_only_when_safe() -> None:
    single = Schema([TensorSpec(np.dtype("float64"), (-1, 2))])
    array = model_input([tensor("anything", np.ones((3, 2), np.float32))], single)
    assert isinstance(array, np.ndarray) and array.dtype == np.float64 and array.shape == (3, 2)
    narrow = Schema([TensorSpec(np.dtype("float32"), (-1, 2))])
    assert model_input([tensor("t", np.ones((1, 2)))], narrow).dtype == np.float64  # MLflow says
    named = Schema(
        [TensorSpec(np.dtype("int64"), (-1,), "a"), TensorSpec(np.dtype("int64"), (-1,), "b")]
    )
    both = model_input([tensor("a", np.array([1], np.int32)), tensor("b", np.array([2]))], named)
    assert {k: v.tolist() for k, v in both.items()} == {"a": [1], "b": [2]}
    with pytest.raises(ValueError, match="unknown input 'c'"):
        model_input([tensor("c", np.array([1]))], named)
    with pytest.raises(ValueError, match="takes one tensor"):
        model_input([tensor("a", np.ones(1)), tensor("b", np.ones(1))], single)


def test_without_a_signature_one_tensor_is_the_array_and_columns_a_frame() -> None:
    assert model_input([tensor("t", np.ones((2, 3)))], None).shape == (2, 3)
    frame = model_input([tensor("p", column([1.0, 2.0])), tensor("q", np.array([3, 4]))], None)
    assert frame.to_dict("list") == {"p": [1.0, 2.0], "q": [3, 4]}


@pytest.mark.parametrize(
    "bad",
    [[], ["x", "FP64", [1], b"\0" * 7], [["x", "FP64", [1], "text"]], [["x", "FP64", [-1], b""]]],
    ids=["no tensors", "not a list of tensors", "raw not bytes", "negative shape"],
)
def test_malformed_tensors_are_value_errors(bad: Any) -> None:
    with pytest.raises(ValueError):
        model_input(bad, None)


# --- outputs -------------------------------------------------------------------------

OUT = TensorMetadata(
    [],
    [
        {"name": "y", "datatype": "FP64", "shape": [-1, 1]},
        {"name": "label", "datatype": "BYTES", "shape": [-1, 1]},
    ],
)


def encoded(
    output: Any, metadata: TensorMetadata | None, form: OutputForm = OutputForm.V2_JSON
) -> Any:
    return orjson.loads(encode_tensors(output, form, metadata))


def test_outputs_are_named_typed_and_shaped_as_the_metadata_says() -> None:
    frame = pd.DataFrame({"label": ["a", "b"], "extra": [0, 0], "y": [1, 2]})  # ints, other order
    assert encoded(frame, OUT) == [
        {"name": "y", "datatype": "FP64", "shape": [2, 1], "data": [1.0, 2.0]},
        {"name": "label", "datatype": "BYTES", "shape": [2, 1], "data": ["a", "b"]},
    ]


def test_one_output_is_taken_whatever_its_name_and_a_2d_array_gives_one_per_column() -> None:
    single = TensorMetadata([], [{"name": "predictions", "datatype": "INT64", "shape": [-1]}])
    assert encoded(pd.Series([1.0, 0.0], name="whatever"), single)[0]["data"] == [1, 0]
    two = TensorMetadata([], [{"name": "p", "datatype": "FP32", "shape": [-1, 1]},
                              {"name": "q", "datatype": "FP32", "shape": [-1, 1]}])  # fmt: skip
    written = encoded(np.array([[0.25, 0.75]]), two)
    assert [(o["name"], o["data"]) for o in written] == [("p", [0.25]), ("q", [0.75])]


@pytest.mark.parametrize(
    ("output", "fragment"),
    [
        (pd.DataFrame({"y": [1.5]}), "no label"),
        (pd.DataFrame({"y": [1.0], "label": [b"\xff"]}), "not UTF-8"),
    ],
)
def test_an_output_that_does_not_fit_the_metadata_is_refused(output: Any, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        encode_tensors(output, OutputForm.V2_JSON, OUT)


def test_values_that_would_change_are_refused_not_rounded() -> None:
    ints = TensorMetadata([], [{"name": "k", "datatype": "INT64", "shape": [-1]}])
    assert encoded(np.array([2.0, 3.0]), ints)[0]["data"] == [2, 3]
    with pytest.raises(ValueError, match="does not fit INT64 unchanged"):
        encode_tensors(np.array([2.5]), OutputForm.V2_JSON, ints)
    with pytest.raises(ValueError, match=r"has shape \[1, 2\]; its metadata says \[-1\]"):
        encode_tensors(np.array([[1, 2]]), OutputForm.V2_JSON, ints)


def test_binary_form_is_the_v2_layout_in_base64() -> None:
    [y, label] = encoded(
        pd.DataFrame({"y": [1.0, 2.0], "label": ["a", "bc"]}), OUT, OutputForm.V2_BINARY
    )
    assert base64.b64decode(y["raw"]) == struct.pack("<2d", 1.0, 2.0)
    assert base64.b64decode(label["raw"]) == b"\x01\0\0\0a\x02\0\0\0bc"
    assert "data" not in y


def test_without_metadata_outputs_are_described_per_answer() -> None:
    [written] = encoded(np.array([[1, 2]], dtype=np.int16), None)
    assert written == {"name": "predictions", "datatype": "INT16", "shape": [1, 2], "data": [1, 2]}


def test_datetimes_and_objects_are_text() -> None:
    texts = TensorMetadata([], [{"name": "t", "datatype": "BYTES", "shape": [-1]}])
    stamps = pd.Series(pd.to_datetime(["2024-01-02T03:04:05"]))
    assert encoded(stamps, texts)[0]["data"] == ["2024-01-02T03:04:05"]
    assert encoded([{"a": 1}, 2.5], texts)[0]["data"] == ['{"a":1}', "2.5"]


# --- batching ------------------------------------------------------------------------


def tensor_request(request_id: int, xs: list[float], params: Any = None) -> PredictRequest:
    data = [tensor("x", column(xs)), tensor("s", column([f"r{x}" for x in xs], object), "BYTES")]
    return PredictRequest(
        request_id, "default", 1e12, InputForm.TENSORS, data, params, OutputForm.V2_JSON
    )


def test_rows_keys_and_parts_of_tensor_requests() -> None:
    first, second = tensor_request(1, [1.0, 2.0, 3.0]), tensor_request(2, [4.0])
    assert payload_rows(InputForm.TENSORS, first.data) == 3
    assert batch_key(first) == batch_key(second) is not None
    assert batch_key(first) != batch_key(tensor_request(3, [1.0], {"p": 1}))
    uneven = [tensor("x", column([1.0])), tensor("y", column([1.0, 2.0]))]
    ragged = PredictRequest(4, "default", 1e12, InputForm.TENSORS, uneven)
    assert batch_key(ragged) is None and payload_rows(InputForm.TENSORS, ragged.data) == 1
    parts = chunks(first, 3, 2)
    assert [wire.rows(part) for part in parts] == [2, 1]
    assert wire.merge(parts) == first.data
    assert [to_list(p) for p in parts] == [[[1.0, 2.0], ["r1.0", "r2.0"]], [[3.0], ["r3.0"]]]


def to_list(tensors: list[list[Any]]) -> list[list[Any]]:
    return [wire.to_array(t).reshape(-1).tolist() for t in tensors]


@pytest.fixture(scope="module")
def recorder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    """tests/models/recorder.py saved and loaded by MLflow (a real pyfunc model, once)."""
    import mlflow.pyfunc

    root = tmp_path_factory.mktemp("recorder")
    calls_file = root / "calls"
    signature = ModelSignature(Schema([ColSpec("double", "x")]), Schema([ColSpec("double", "y")]))
    mlflow.pyfunc.save_model(
        root / "model", python_model=str(MODELS / "recorder.py"), signature=signature,
        model_config={"calls_file": str(calls_file)}, pip_requirements=["mlflow"],
    )  # fmt: skip
    yield mlflow.pyfunc.load_model(str(root / "model")), calls_file


def x_request(request_id: int, xs: list[float]) -> PredictRequest:
    data = [tensor("x", column(xs))]
    return PredictRequest(
        request_id, "default", 1e12, InputForm.TENSORS, data, None, OutputForm.V2_JSON
    )


def test_tensor_requests_share_one_predict_call_and_each_gets_its_own_rows(
    recorder: tuple[Any, Path],
) -> None:
    pyfunc, calls_file = recorder
    metadata = pyfunc.metadata
    described = describe_model(metadata.get_input_schema(), metadata.get_output_schema(), None)
    predictor = PyfuncPredictor(pyfunc, metadata.get_input_schema())
    requests = [x_request(1, [1.0, 2.0]), x_request(2, [3.0])]
    batch = [
        Pending(Job(r, None, len(r.data[0][2]), batch_key(r)), r.data, r.data[0][2][0], 0.0, True)
        for r in requests
    ]
    outcomes = execute(predictor, batch, lambda raw, form: encode_tensors(raw, form, described))
    assert calls(calls_file) == [3]  # one predict call for both requests
    answers = [orjson.loads(outcome) for outcome in outcomes if isinstance(outcome, bytes)]
    assert answers == [
        [{"name": "y", "datatype": "FP64", "shape": [2, 1], "data": [2.0, 4.0]}],
        [{"name": "y", "datatype": "FP64", "shape": [1, 1], "data": [6.0]}],
    ]

"""Predictions are written as MLflow's scoring server writes them, on both paths."""

from __future__ import annotations

import datetime
import io
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from mlflow.pyfunc.scoring_server import predictions_to_json

from warmserve.runtime import mlflow_json

OUTPUTS: dict[str, Any] = {
    "float array": np.array([0.5, 1.5, 1e16, -0.0]),
    "int array": np.arange(3, dtype=np.int64),
    "uint64 array": np.array([2**64 - 1], dtype=np.uint64),
    "bool array": np.array([True, False]),
    "float32 array": np.full(2, 0.1, dtype=np.float32),
    "float16 array": np.full(2, 0.1, dtype=np.float16),
    "matrix": np.ones((2, 2)) / 3,
    "transposed matrix": (np.arange(6.0).reshape(2, 3) / 7).T,
    "frame": pd.DataFrame({"y": [0.0, 1.5], "label": ["a", "b"]}),
    "numeric frame": pd.DataFrame({"y": [0.0, 1.5], "n": [1, 2], "b": [True, False]}),
    "float32 frame": pd.DataFrame({"f": np.array([0.1, 0.2], dtype=np.float32)}),
    "integer column labels": pd.DataFrame(np.arange(4).reshape(2, 2)),
    "unnamed series": pd.Series([0.0, 2.0]),
    "unnamed series with an index": pd.Series([1.0, 2.0], index=[7, 8]),
    "named series": pd.Series([0.0, 2.0], name="score"),
    "nullable integers": pd.DataFrame({"n": pd.array([1, None], dtype="Int64")}),
    "dict": {"a": 1, "b": [1.5, "x"], "c": {"d": None}},
    "float32 in a dict": {"p": np.float32(0.1), "v": np.array([0.1, 0.2], np.float32)},
    "numpy scalars in a dict": {"i": np.int64(3), "b": np.bool_(True), "a": np.arange(2)},
    "string": "hello",
    "non-ascii strings": ["é", "🙂", "\ud800"],
    "nan array": np.array([np.nan, np.inf, -np.inf, 1.0]),
    "nan frame": pd.DataFrame({"y": [np.nan, 1.0], "z": [np.inf, None]}),
    "nan list": [float("nan"), 1.0],
    "datetimes": pd.DataFrame({"t": pd.to_datetime(["2024-01-02T03:04:05"])}),
    "timestamp": {"t": datetime.datetime(2024, 1, 2, 3, 4, 5)},
    "bytes": {"b": b"\x00\x01binary"},
    "big integers": [2**70, -(2**65)],
    "none": None,
    "arrays in a list": [np.array([1.0, 2.0]), np.array([3.0])],
    "scalar array": np.array(3.5),
    "object array": np.array([1, "a"], dtype=object),
}


def mlflow_writes(output: Any) -> str:
    buffer = io.StringIO()
    predictions_to_json(output, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("output", OUTPUTS.values(), ids=OUTPUTS.keys())
def test_each_output_is_written_as_mlflow_writes_it(output: Any) -> None:
    ours = b'{"predictions":' + mlflow_json.encode(output) + b"}"
    expected = json.loads(mlflow_writes(output))
    assert json.dumps(json.loads(ours), sort_keys=True) == json.dumps(expected, sort_keys=True)


@pytest.mark.parametrize(
    "name", ["float array", "matrix", "numeric frame", "unnamed series", "float32 array"]
)
def test_plain_numbers_take_the_fast_path(name: str) -> None:
    assert mlflow_json.fast_encode(OUTPUTS[name]) is not None


@pytest.mark.parametrize(
    "name", ["nan array", "nan frame", "frame", "datetimes", "nullable integers", "dict"]
)
def test_everything_else_takes_mlflows_encoder(name: str) -> None:
    assert mlflow_json.fast_encode(OUTPUTS[name]) is None


def test_an_output_mlflow_cannot_write_raises() -> None:
    with pytest.raises(TypeError):
        mlflow_json.encode([{1, 2}])


NUMBERS = st.sampled_from([np.float64, np.float32, np.int64, np.int32, np.uint8, np.bool_])


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(NUMBERS, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4)))
def test_fast_path_writes_the_same_values_as_mlflow_for_arrays(array: np.ndarray) -> None:
    fast = mlflow_json.fast_encode(array)
    exact = mlflow_json.exact_encode(array)
    if fast is None:  # NaN or infinity: only MLflow's encoder writes those as MLflow does
        assert not np.isfinite(array).all()
        return
    assert json.loads(fast) == json.loads(exact)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(allow_nan=False, allow_infinity=False),
            st.integers(-(2**63), 2**63 - 1),
            st.booleans(),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_fast_path_writes_the_same_values_as_mlflow_for_frames(rows: list[Any]) -> None:
    frame = pd.DataFrame(rows, columns=["f", 1, "b"])
    fast = mlflow_json.fast_encode(frame)
    assert fast is not None
    assert json.loads(fast) == json.loads(mlflow_json.exact_encode(frame))

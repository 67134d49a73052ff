"""Parity model: the column ``kind`` of the first row picks the shape of the output, so
one model covers every output encoding (frames, series, dicts, strings, NaN...)."""

import datetime

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

OUTPUTS = {
    "array": lambda n: np.arange(n, dtype=np.float64) + 0.5,
    "int_array": lambda n: np.arange(n, dtype=np.int64),
    "bool_array": lambda n: np.array([True, False] * n)[:n],
    "float32_array": lambda n: np.full(n, 0.1, dtype=np.float32),
    "matrix": lambda n: np.ones((n, 2)) / 3,
    "frame": lambda n: pd.DataFrame({"y": np.arange(n) * 1.5, "label": ["a"] * n}),
    "int_labels": lambda n: pd.DataFrame(np.arange(2 * n).reshape(n, 2)),
    "series": lambda n: pd.Series(np.arange(n) * 2.0),
    "named_series": lambda n: pd.Series(np.arange(n) * 2.0, name="score"),
    "dict": lambda n: {"a": 1, "b": [1.5, "x"], "c": {"d": None}},
    "float32_dict": lambda n: {"p": np.float32(0.1), "v": np.array([0.1, 0.2], np.float32)},
    "numpy_dict": lambda n: {"i": np.int64(3), "b": np.bool_(True), "a": np.arange(2)},
    "string": lambda n: "hello",
    "strings": lambda n: ["a", "é", "🙂"][:n] + ["z"] * max(0, n - 3),
    "nan_array": lambda n: np.array([np.nan, np.inf, -np.inf, 1.0]),
    "nan_frame": lambda n: pd.DataFrame({"y": [np.nan, 1.0], "z": [np.inf, None]}),
    "nan_list": lambda n: [float("nan"), 1.0],
    "datetimes": lambda n: pd.DataFrame({"t": pd.to_datetime(["2024-01-02T03:04:05"] * n)}),
    "timestamp": lambda n: {"t": datetime.datetime(2024, 1, 2, 3, 4, 5)},
    "bytes": lambda n: {"b": b"\x00\x01binary"},
    "big_int": lambda n: [2**70, -(2**65)],
    "none": lambda n: None,
    "nested_arrays": lambda n: [np.array([1.0, 2.0]), np.array([3.0])],
    "unencodable": lambda n: [{1, 2}],
}


class Shapes(PythonModel):
    def predict(self, context, model_input, params=None):
        kind = str(model_input["kind"].iloc[0])
        return OUTPUTS[kind](len(model_input))


mlflow.models.set_model(Shapes())

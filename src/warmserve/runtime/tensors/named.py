"""A model's output as named arrays, and their description as v2 tensors.

Whatever a pyfunc model returns (a frame, a series, an array, a dict of arrays, a list,
a scalar) is read as a list of named arrays. Columns of frames and series are described
as ``[-1, 1]`` tensors, like input columns; arrays keep their shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from warmserve.protocol import BYTES
from warmserve.runtime.tensors.wire import datatype_of

UNNAMED_OUTPUT = "predictions"  # the word of MLflow's scoring protocol
COLUMN_SHAPE = [-1, 1]


@dataclass(frozen=True)
class Named:
    name: str | None
    array: np.ndarray[Any, Any]
    column: bool  # a column of a frame or a series


def _array(value: Any) -> np.ndarray[Any, Any]:
    return np.atleast_1d(np.asarray(value))


def named_arrays(output: Any) -> list[Named]:
    if isinstance(output, pd.DataFrame):
        return [
            Named(str(label), output.iloc[:, index].to_numpy(), True)
            for index, label in enumerate(output.columns)
        ]
    if isinstance(output, pd.Series):
        return [Named(None if output.name is None else str(output.name), output.to_numpy(), True)]
    if isinstance(output, dict):
        return [Named(str(key), _array(value), False) for key, value in output.items()]
    if isinstance(output, list | tuple) and output and all(isinstance(x, dict) for x in output):
        return named_arrays(pd.DataFrame(list(output)))  # records
    if isinstance(output, np.ndarray | list | tuple):
        return [Named(None, _array(output), False)]
    return [Named(None, _array([output]), False)]


def entry_name(name: Any, index: int, count: int, unnamed: str) -> str:
    """The tensor name of a signature entry or output that has none of its own."""
    if name is not None:
        return str(name)
    return unnamed if count == 1 else f"{unnamed}_{index}"


def object_datatype(array: np.ndarray[Any, Any]) -> str:
    """The datatype of an object array by its elements (Python bools, ints, floats)."""
    kinds = {type(item) for item in array.reshape(-1).tolist()}
    if kinds and kinds <= {bool}:
        return "BOOL"
    if kinds and kinds <= {int}:
        return "INT64"
    if kinds and kinds <= {int, float}:
        return "FP64"
    return BYTES


def describe(named: list[Named]) -> list[dict[str, Any]]:
    """Tensor metadata of named arrays (used when the signature says nothing of outputs)."""
    specs = []
    for index, item in enumerate(named):
        array = item.array
        datatype = object_datatype(array) if array.dtype.kind == "O" else datatype_of(array.dtype)
        shape = list(COLUMN_SHAPE) if item.column else [-1, *array.shape[1:]]
        name = entry_name(item.name, index, len(named), UNNAMED_OUTPUT)
        specs.append({"name": name, "datatype": datatype, "shape": shape})
    return specs

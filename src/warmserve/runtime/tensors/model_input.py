"""The model's input from v2 tensors, in the form its signature asks for.

Column signatures: one tensor per column (``[N]`` or ``[N, 1]``; ``[N, k]`` for array
columns), or, when every column is numeric, one 2-D tensor ``[N, columns]`` in
signature order (what Triton clients send). Each column takes its MLflow type where no
value changes (FP32 into a double column, integral FP64 into a long one, BYTES into
strings); anything else is left as sent, so MLflow's own schema check refuses it in its
own words. Tensor signatures get the array (a dict of arrays when the tensors are named).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from warmserve.runtime.tensors.metadata import UNNAMED_INPUT, entry_names, type_name
from warmserve.runtime.tensors.wire import to_array

NUMERIC = {"double": np.float64, "float": np.float32, "long": np.int64, "integer": np.int32}
Array = np.ndarray[Any, Any]


def model_input(tensors: Any, schema: Any) -> Any:
    """Raises ValueError (the request's fault) with a message for the client."""
    if not isinstance(tensors, list) or not tensors:
        raise ValueError("the request has no input tensors")
    arrays: dict[str, Array] = {}
    for tensor in tensors:
        array = to_array(tensor)
        if tensor[0] in arrays:
            raise ValueError(f"input {tensor[0]!r} is given twice")
        if array.ndim == 0:
            raise ValueError(f"input {tensor[0]!r} has no batch dimension")
        arrays[tensor[0]] = array
    if schema is None:
        return _unsigned(arrays)
    if schema.is_tensor_spec():
        return _tensors(arrays, schema)
    return _frame(arrays, schema)


def _frame(arrays: dict[str, Array], schema: Any) -> pd.DataFrame:
    columns = schema.inputs
    names = entry_names(schema, UNNAMED_INPUT)
    keys = [column.name if column.name is not None else i for i, column in enumerate(columns)]
    numeric = all(type_name(column.type) in NUMERIC for column in columns)
    unknown = [name for name in arrays if name not in names]
    if unknown:
        only = next(iter(arrays.values())) if len(arrays) == 1 else None
        if numeric and only is not None and only.ndim == 2 and only.shape[1] == len(columns):
            pairs = zip(keys, columns, strict=True)
            return pd.DataFrame(
                {key: _column(only[:, j], c.type) for j, (key, c) in enumerate(pairs)}
            )
        also = f", or one 2-D tensor [N, {len(columns)}]" if numeric else ""
        raise ValueError(
            f"unknown input {', '.join(map(repr, unknown))}: the model's inputs are "
            f"{', '.join(names)}{also}"
        )
    counts = {array.shape[0] for array in arrays.values()}
    if len(counts) > 1:
        raise ValueError(f"the inputs have different numbers of rows: {sorted(counts)}")
    return pd.DataFrame(
        {
            key: _column(arrays[name], column.type, name)
            for name, key, column in zip(names, keys, columns, strict=True)
            if name in arrays
        }
    )


def _column(values: Array, column_type: Any, name: str = "") -> Any:
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    elif values.ndim > 1:
        return [row.tolist() for row in values]  # one list per row: an array column
    kind = type_name(column_type)
    if kind in NUMERIC:
        return _exact(values, np.dtype(NUMERIC[kind]))
    if kind == "boolean":
        return _exact(values, np.dtype(bool))
    if kind == "string" and values.dtype.kind == "O":
        if any(isinstance(item, bytes) for item in values):
            raise ValueError(f"input {name!r} holds bytes that are not UTF-8 text")
    elif kind == "binary" and values.dtype.kind == "O":
        return np.array([v.encode() if isinstance(v, str) else v for v in values], dtype=object)
    elif kind == "datetime" and values.dtype.kind == "O":
        try:
            return pd.to_datetime(pd.Series(values))
        except (ValueError, TypeError):
            return values  # MLflow says why
    return values


def _exact(values: Array, dtype: np.dtype[Any]) -> Array:
    """``values`` as ``dtype`` when no value changes (floats: any number); else unchanged."""
    if values.dtype == dtype or values.dtype.kind not in "biuf":
        return values
    with np.errstate(all="ignore"):
        cast = values.astype(dtype)
    if dtype.kind == "f" or np.array_equal(cast, values):
        return cast
    return values


def _tensors(arrays: dict[str, Array], schema: Any) -> Any:
    specs = schema.inputs
    if schema.has_input_names():
        by_name = {spec.name: spec for spec in specs}
        unknown = [name for name in arrays if name not in by_name]
        if unknown:
            raise ValueError(
                f"unknown input {', '.join(map(repr, unknown))}: the model's inputs are "
                f"{', '.join(by_name)}"
            )
        return {name: _safe(array, by_name[name].type) for name, array in arrays.items()}
    if len(arrays) != 1:
        raise ValueError(f"the model takes one tensor; the request has {len(arrays)}")
    (array,) = arrays.values()
    return _safe(array, specs[0].type)


def _safe(array: Array, dtype: np.dtype[Any]) -> Array:
    numbers = array.dtype.kind in "biuf" and dtype.kind in "biuf"
    if numbers and np.can_cast(array.dtype, dtype, "safe"):
        return array.astype(dtype)
    return array


def _unsigned(arrays: dict[str, Array]) -> Any:
    """No signature: one tensor is the array; several columns a frame; else a dict."""
    if len(arrays) == 1:
        return next(iter(arrays.values()))
    columns = all(a.ndim == 1 or (a.ndim == 2 and a.shape[1] == 1) for a in arrays.values())
    if columns and len({a.shape[0] for a in arrays.values()}) == 1:
        return pd.DataFrame({name: a.reshape(-1) for name, a in arrays.items()})
    return arrays

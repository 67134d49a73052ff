"""Predictions as JSON, exactly as MLflow's scoring server writes them.

MLflow converts the raw output with ``_get_jsonable_obj`` (a frame or a series
becomes a list of records, an array a list) and writes it with Python's ``json``
and MLflow's ``NumpyEncoder``. What that means for clients:

- NaN and infinities are written as ``NaN``, ``Infinity`` and ``-Infinity`` (what
  Python's and pandas' JSON readers read back), not as ``null``;
- float32 values carry their float64 digits (``0.10000000149011612``), inside
  arrays, frames and dicts alike;
- integer column labels (an unnamed series is column ``0``) become string keys;
- integers of any size, datetimes as ISO text, bytes as base64 with a newline.

Numeric arrays and frames of plain numbers (the output of most models) take a
fast path through orjson, which writes the same JSON values; anything else —
NaN, objects, datetimes, dicts, strings — is written by MLflow's own encoder.
A unit test holds both paths equal.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from warmserve.runtime import mlflow_compat

FAST_KINDS = frozenset("biuf")  # bool, signed and unsigned integers, floats


def encode(output: Any) -> bytes:
    """What `mlflow models serve` puts under "predictions", as JSON text."""
    fast = fast_encode(output)
    return fast if fast is not None else exact_encode(output)


def exact_encode(output: Any) -> bytes:
    """MLflow's own conversion and encoder (raises TypeError for what it cannot write)."""
    text = json.dumps(mlflow_compat.jsonable(output), cls=mlflow_compat.json_encoder())
    return text.encode("utf-8")


def fast_encode(output: Any) -> bytes | None:
    """orjson for the outputs it writes exactly as MLflow does; None for the rest."""
    import numpy as np
    import pandas as pd

    try:
        if isinstance(output, np.ndarray):
            return _array(output)
        if isinstance(output, pd.Series):
            return _frame(pd.DataFrame(output))  # as MLflow: an unnamed series is column 0
        if isinstance(output, pd.DataFrame):
            return _frame(output)
    except orjson.JSONEncodeError:
        return None
    return None


def _array(array: Any) -> bytes | None:
    import numpy as np

    if array.ndim == 0 or array.dtype.kind not in FAST_KINDS:
        return None
    if array.dtype.kind == "f":
        if not np.isfinite(array).all():
            return None
        array = array.astype(np.float64, copy=False)  # float32 written with float64 digits
    return orjson.dumps(np.ascontiguousarray(array), option=orjson.OPT_SERIALIZE_NUMPY)


def _frame(frame: Any) -> bytes | None:
    import numpy as np

    for label, dtype in frame.dtypes.items():
        if type(label) not in (str, int) or getattr(dtype, "kind", "O") not in FAST_KINDS:
            return None
        if not isinstance(dtype, np.dtype):
            return None  # pandas extension types (nullable integers...) hold pd.NA
        if dtype.kind == "f" and not np.isfinite(frame[label].to_numpy()).all():
            return None
    if not frame.columns.is_unique:
        return None
    records = frame.to_dict(orient="records")  # the same call MLflow makes
    return orjson.dumps(records, option=orjson.OPT_NON_STR_KEYS)

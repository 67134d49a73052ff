"""A model's raw output: split it between the requests of a batch, join the parts of a
chunked request, and encode it in the output form the request asked for.

Splitting happens on the raw output (an array, a frame, a series or a list),
before any encoding, so every output form can share the batching. Whatever
cannot be split row by row is reported as such, and the batch layer predicts
each request alone instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from warmserve.protocol import OutputForm
from warmserve.runtime import mlflow_json


def row_count(output: Any) -> int | None:
    """Rows in ``output`` when it is row-aligned with its input, else None."""
    shape = getattr(output, "shape", None)
    if shape is not None and hasattr(output, "__len__"):
        return int(shape[0]) if len(shape) >= 1 else None
    if isinstance(output, list):
        return len(output)
    return None  # scalars, strings, dicts: a dict's keys need not be rows


def take(output: Any, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of a row-aligned output (same type as the output)."""
    iloc = getattr(output, "iloc", None)
    if iloc is not None:
        return iloc[start:stop]
    return output[start:stop]


def split(output: Any, counts: Sequence[int]) -> list[Any] | None:
    """One slice per request of a merged batch, or None when the output is not row-aligned."""
    if row_count(output) != sum(counts):
        return None
    slices: list[Any] = []
    offset = 0
    for count in counts:
        slices.append(take(output, offset, offset + count))
        offset += count
    return slices


def join(parts: Sequence[Any]) -> Any:
    """Concatenate the outputs of a chunked request's parts (ValueError if they differ)."""
    first = parts[0]
    if len(parts) == 1:
        return first
    if isinstance(first, list):
        return [row for part in parts for row in part]
    module = type(first).__module__.split(".")[0]
    if module == "pandas":
        import pandas as pd

        return pd.concat(parts, ignore_index=True)
    if module == "numpy":
        import numpy as np

        return np.concatenate(parts)
    raise ValueError(f"cannot join outputs of type {type(first).__name__}")


def _default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if isinstance(obj, bytes | bytearray):
        import base64

        return base64.b64encode(obj).decode("ascii")
    raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


def dumps(obj: Any) -> bytes:
    """JSON text (numpy arrays and scalars included).

    Keys that are not strings (the column labels of an unnamed series or of a frame built
    from an array) are written as strings, as ``json.dumps`` and so `mlflow models serve`
    write them; the common all-string case keeps orjson's faster path.
    """
    try:
        return orjson.dumps(obj, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)
    except orjson.JSONEncodeError:
        options = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
        return orjson.dumps(obj, default=_default, option=options)


def encode_mlflow_json(output: Any) -> bytes:
    """What `mlflow models serve` puts under "predictions", as JSON text."""
    return mlflow_json.encode(output)


ENCODERS: dict[OutputForm, Callable[[Any], bytes]] = {
    OutputForm.MLFLOW_JSON: encode_mlflow_json,
}


def encode(output: Any, form: OutputForm) -> bytes:
    return ENCODERS[form](output)

"""Large numeric requests cross to the model process as packed float64, not as objects.

A 100,000-row ``dataframe_split`` is two million Python floats. Sent as they are, the
model process would decode them into objects again (blocking its event loop for as
long), check each value's type in Python and copy them into an array. When the served
model's predictor is one of the numeric paths (all its inputs are required double
columns), the worker packs the rows into one ``array('d')`` instead — C-speed, no
numpy in the worker — and the model process reads it with ``numpy.frombuffer``.

Only rows whose every value is an ``int`` or a ``float`` are packed (a bool, a null,
a string or a missing column keeps the JSON form and MLflow's rules); the answer is
the same either way: the numeric paths read exactly these rows as float64.
"""

from __future__ import annotations

import sys
from array import array
from dataclasses import replace
from itertools import chain
from typing import Any

from warmserve.http.codecs import ModelInput
from warmserve.protocol import InputForm, ServedModel

PACK_AT_ROWS = 256  # smaller requests keep their JSON form (and merge into batches)
NUMERIC_PREDICTORS = frozenset({"numeric-frame", "compiled-linear", "compiled-trees"})
NUMBERS = frozenset({int, float})


def double_columns(served: ServedModel) -> list[str] | None:
    """The input columns when the served predictor reads them as float64, else None."""
    if served.predictor is None or served.predictor.name not in NUMERIC_PREDICTORS:
        return None
    inputs = served.signature.get("inputs") or []
    names = [column.get("name") for column in inputs if isinstance(column, dict)]
    if not names or len(names) != len(inputs):
        return None
    return (
        [name for name in names if isinstance(name, str)]
        if all(isinstance(name, str) for name in names)
        else None
    )


def pack(model_input: ModelInput, served: ServedModel) -> ModelInput:
    """``model_input`` as a packed matrix when it is large, numeric and the model's
    columns in order; otherwise unchanged."""
    form = model_input.form
    if form not in (InputForm.SPLIT, InputForm.RECORDS) or model_input.params is not None:
        return model_input
    if not model_input.cacheable:  # parsed by the exact parser: NaN, huge integers...
        return model_input
    if _row_count(form, model_input.data) < PACK_AT_ROWS:  # most requests: a cheap no
        return model_input
    columns = double_columns(served)
    if columns is None:
        return model_input
    rows = _rows(form, model_input.data, columns)
    if rows is None or len(rows) < PACK_AT_ROWS:
        return model_input
    if set(map(type, rows)) != {list} or set(map(len, rows)) != {len(columns)}:
        return model_input
    if not set(map(type, chain.from_iterable(rows))) <= NUMBERS:  # no bool, None, str
        return model_input
    try:
        values = array("d", chain.from_iterable(rows))
    except OverflowError:  # an integer beyond a double: MLflow's rules apply
        return model_input
    if sys.byteorder != "little":  # pragma: no cover - every platform we run on is little
        values.byteswap()
    data = {"columns": columns, "rows": len(rows), "values": values.tobytes()}
    return replace(model_input, form=InputForm.MATRIX, data=data)


def _row_count(form: InputForm, data: Any) -> int:
    rows = data.get("data") if form is InputForm.SPLIT and isinstance(data, dict) else data
    return len(rows) if isinstance(rows, list) else 0


def _rows(form: InputForm, data: Any, columns: list[str]) -> list[Any] | None:
    if form is InputForm.SPLIT:
        if not isinstance(data, dict) or data.get("columns") != columns or "index" in data:
            return None
        rows = data.get("data")
        return rows if isinstance(rows, list) else None
    if not isinstance(data, list) or len(data) < PACK_AT_ROWS:
        return None
    width = len(columns)
    try:
        if set(map(len, data)) != {width}:
            return None
        return [[record[name] for name in columns] for record in data]
    except (KeyError, TypeError):
        return None

"""The fast path for the commonest model: named float64 columns in, one array out.

MLflow's serving path builds a DataFrame column by column, then enforces the
signature again inside ``PyFuncModel.predict``: ~80% of a one-row request's
model-process time for a LogisticRegression. For a signature whose inputs are
all required ``double`` columns, the enforced input is exactly a float64 frame
in signature order, so we build that in one step and call the flavor's predict
function. Anything else (other types, a missing or extra column, a string, a
bool, a null, params) returns None and takes MLflow's own path, so errors and
edge cases behave exactly as before.
"""

from __future__ import annotations

from typing import Any

NUMBER_TYPES = (int, float)


def numeric_fast_path(pyfunc: Any) -> tuple[tuple[str, ...] | None, Any]:
    """(columns, predict function) when the model qualifies, else (None, None)."""
    from mlflow.types import ColSpec, DataType

    metadata = pyfunc.metadata
    schema = metadata.get_input_schema()
    predict_fn = getattr(pyfunc, "_predict_fn", None)
    if schema is None or predict_fn is None or schema.is_tensor_spec():
        return None, None
    if metadata.get_params_schema() is not None:
        return None, None
    for check in ("_is_signature_from_type_hint", "_is_type_hint_from_example"):
        probe = getattr(metadata, check, None)
        if probe is None or probe():
            return None, None
    inputs = schema.inputs
    if not inputs or not all(
        isinstance(col, ColSpec) and col.type == DataType.double and col.required and col.name
        for col in inputs
    ):
        return None, None
    return tuple(str(col.name) for col in inputs), predict_fn


def numeric_rows(columns: tuple[str, ...], fmt: str, data: Any) -> list[list[Any]] | None:
    """The rows in signature order if every value is a plain number, else None."""
    width = len(columns)
    if fmt == "split":
        if data.get("columns") is None or tuple(data["columns"]) != columns or "index" in data:
            return None
        rows = data["data"]
    elif fmt == "records":
        try:
            rows = [[record[name] for name in columns] for record in data]
        except (KeyError, TypeError):
            return None
        if any(len(record) != width for record in data):
            return None
    else:
        return None
    for row in rows:
        if type(row) is not list or len(row) != width:
            return None
        for value in row:
            if type(value) not in NUMBER_TYPES:  # excludes bool, None, str
                return None
    return rows


def fast_predict(model: Any, fmt: str, data: Any, params: dict[str, Any] | None) -> Any:
    """Predict through the fast path, or return NotImplemented to take MLflow's path."""
    columns = model.numeric_columns
    if columns is None or params:
        return NotImplemented
    rows = numeric_rows(columns, fmt, data)
    if not rows:
        return NotImplemented
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame(np.array(rows, dtype=np.float64), columns=list(columns))
    return model.predict_fn(frame)

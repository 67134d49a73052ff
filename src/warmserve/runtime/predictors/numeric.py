"""The numeric frame path: named float64 columns in, one call of the flavor's predict.

MLflow's path builds a DataFrame column by column, then enforces the signature
again inside ``PyFuncModel.predict``: ~80% of a one-row request's model-process
time for a LogisticRegression. For a signature whose inputs are all required
``double`` columns, the enforced input is exactly a float64 frame in signature
order, so it is built in one step. Anything else (a missing or extra column, a
string, a bool, a null, params) goes to the fallback, so errors and edge cases
behave exactly as MLflow's path.
"""

from __future__ import annotations

from typing import Any

from warmserve.protocol import InputForm
from warmserve.runtime import mlflow_compat
from warmserve.runtime.predictors.base import Declined, ModelContext, Predictor

NUMBER_TYPES = (int, float)


def numeric_columns(context: ModelContext) -> tuple[str, ...]:
    """The signature's columns when every one is a required double; else Declined."""
    from mlflow.types import ColSpec, DataType

    schema = context.input_schema
    metadata = context.pyfunc.metadata
    if schema is None:
        raise Declined("the model has no input signature")
    if schema.is_tensor_spec():
        raise Declined("the signature is a tensor signature")
    if metadata.get_params_schema() is not None:
        raise Declined("the model takes params")
    if mlflow_compat.signature_from_type_hints(metadata):
        raise Declined("the signature comes from type hints")
    inputs = schema.inputs
    if not inputs or not all(
        isinstance(col, ColSpec) and col.type == DataType.double and col.required and col.name
        for col in inputs
    ):
        raise Declined("not every input column is a required double")
    return tuple(str(col.name) for col in inputs)


def numeric_matrix(columns: tuple[str, ...], form: InputForm, data: Any) -> Any:
    """The rows as a float64 array in signature order when every value is a plain number
    (or the worker packed them), else None."""
    import numpy as np

    if form is InputForm.MATRIX:
        if tuple(data["columns"]) != columns:
            return None
        values = np.frombuffer(data["values"], dtype="<f8")
        return values.reshape(int(data["rows"]), len(columns))
    rows = numeric_rows(columns, form, data)
    return np.array(rows, dtype=np.float64) if rows else None


def numeric_row_count(form: InputForm, data: Any) -> int | None:
    """How many rows a numeric path would read, without reading them."""
    if form is InputForm.MATRIX:
        return int(data["rows"])
    if form is InputForm.SPLIT and isinstance(data, dict) and isinstance(data.get("data"), list):
        return len(data["data"])
    if form is InputForm.RECORDS and isinstance(data, list):
        return len(data)
    return None


def numeric_rows(columns: tuple[str, ...], form: InputForm, data: Any) -> list[list[Any]] | None:
    """The rows in signature order if every value is a plain number, else None."""
    width = len(columns)
    if form is InputForm.SPLIT:
        if data.get("columns") is None or tuple(data["columns"]) != columns or "index" in data:
            return None
        rows: list[list[Any]] = data["data"]
    elif form is InputForm.RECORDS:
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


class NumericFramePredictor:
    name = "numeric-frame"

    def __init__(self, columns: tuple[str, ...], predict_fn: Any, fallback: Predictor) -> None:
        self.columns = columns
        self.predict_fn = predict_fn
        self.fallback = fallback

    def predict(self, form: InputForm, data: Any, params: dict[str, Any] | None) -> Any:
        x = None if params else numeric_matrix(self.columns, form, data)
        if x is None:
            return self.fallback.predict(form, data, params)
        import pandas as pd

        return self.predict_fn(pd.DataFrame(x, columns=list(self.columns)))

    def detail(self) -> dict[str, Any]:
        return {"columns": len(self.columns)}


def build_numeric(context: ModelContext, fallback: Predictor) -> NumericFramePredictor:
    columns = numeric_columns(context)
    predict_fn = mlflow_compat.flavor_predict_fn(context.pyfunc)
    if predict_fn is None:
        raise Declined("the flavor exposes no predict function")
    return NumericFramePredictor(columns, predict_fn, fallback)

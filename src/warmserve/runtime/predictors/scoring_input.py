"""Model input built from a request exactly as MLflow's scoring server builds it.

- JSON envelopes are parsed with the scoring server's own functions, against the
  signature; except for a model whose signature comes from type hints, which
  gets its ``inputs`` as they came (a list stays a list) and refuses the other
  envelopes as MLflow does;
- a chat/completions body is split into data and params by the params schema;
- CSV and Parquet are read by the scoring server's readers.

One deliberate difference: a value outside the int32 range in an ``integer``
column is refused (MLflow's conversion silently wraps it around).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from warmserve.errors import BadRequest
from warmserve.protocol import InputForm
from warmserve.runtime import mlflow_compat
from warmserve.runtime.mlflow_errors import input_error

ENVELOPE_KEYS = {
    InputForm.SPLIT: "dataframe_split",
    InputForm.RECORDS: "dataframe_records",
    InputForm.INSTANCES: "instances",
    InputForm.INPUTS: "inputs",
}
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
DEFAULT_MAX_ROWS = 1_000_000


class ScoringInput:
    """Builds ``(model input, params)`` for ``PyFuncModel.predict`` from one request."""

    def __init__(self, metadata: Any, input_schema: Any, max_rows: int = DEFAULT_MAX_ROWS):
        self.schema = input_schema
        self.params_schema = metadata.get_params_schema()
        self.parses_json = mlflow_compat.parses_request_data(metadata)
        self.int32_columns = _int32_columns(input_schema)
        self.max_rows = max_rows

    def build(self, form: InputForm, data: Any, params: Any) -> tuple[Any, Any]:
        """Raises the WarmserveError MLflow's scoring server would answer with."""
        try:
            if form is InputForm.LLM:
                return mlflow_compat.split_llm_input(data, self.params_schema)
            if form is InputForm.CSV:
                return mlflow_compat.parse_csv_input(data, self.schema), None
            if form is InputForm.PARQUET:
                return self._parquet(data), None
            if form is InputForm.MATRIX:
                return _matrix_frame(data), params
            if form is InputForm.TENSORS:
                from warmserve.runtime.tensors.model_input import model_input

                return model_input(data, self.schema), params
            if not self.parses_json:
                return self._typed(form, data), params
            overflow = next(out_of_int32(self.int32_columns, form, data), None)
            if overflow is not None:
                raise BadRequest(
                    "Invalid input. Data is not compatible with model signature. Failed to "
                    f"convert column {overflow[0]} to type 'int32'. Error: {overflow[1]} is out "
                    "of range"
                )
            envelope = {ENVELOPE_KEYS[form]: data}
            return mlflow_compat.infer_and_parse_data(envelope, self.schema), params
        except Exception as exc:
            raise input_error(exc, form.value) from exc

    def _typed(self, form: InputForm, data: Any) -> Any:
        if form is not InputForm.INPUTS:
            from mlflow.exceptions import MlflowException

            raise MlflowException.invalid_parameter_value(
                "Request payload must be a dictionary with 'inputs' key when the model "
                f"contains a valid type hint. Found keys in payload: {ENVELOPE_KEYS[form]!r}."
            )
        return data

    def _parquet(self, body: bytes) -> Any:
        rows = _parquet_rows(body)
        if rows is not None and rows > self.max_rows:
            raise BadRequest(
                f"the Parquet body has {rows} rows; the limit is {self.max_rows} (max_rows)"
            )
        return mlflow_compat.parse_parquet_input(body)


def _parquet_rows(body: bytes) -> int | None:
    """Rows in a Parquet file from its footer, before anything is decompressed."""
    import io

    try:
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(io.BytesIO(body)).metadata.num_rows)
    except Exception:  # not Parquet, or no pyarrow: MLflow's reader says what is wrong
        return None


def _int32_columns(schema: Any) -> tuple[str, ...]:
    if schema is None or schema.is_tensor_spec():
        return ()
    from mlflow.types import ColSpec, DataType

    return tuple(
        str(col.name)
        for col in schema.inputs
        if isinstance(col, ColSpec) and col.type == DataType.integer and col.name
    )


def out_of_int32(columns: tuple[str, ...], form: InputForm, data: Any) -> Iterator[tuple[str, Any]]:
    """(column, value) for each number outside the int32 range in an integer column."""
    for name in columns:
        for value in _column_values(name, form, data):
            if type(value) in (int, float) and (value < INT32_MIN or value > INT32_MAX):
                yield name, value


def _column_values(name: str, form: InputForm, data: Any) -> Iterator[Any]:
    if form is InputForm.SPLIT and isinstance(data, dict):
        columns = data.get("columns")
        rows = data.get("data")
        if isinstance(columns, list) and name in columns and isinstance(rows, list):
            index = columns.index(name)
            yield from (row[index] for row in rows if isinstance(row, list) and len(row) > index)
    elif isinstance(data, list):  # records (dataframe_records, instances)
        yield from (record.get(name) for record in data if isinstance(record, dict))
    elif isinstance(data, dict):  # a dict of columns (inputs, instances)
        column = data.get(name)
        yield from column if isinstance(column, list) else (column,)


def _matrix_frame(data: dict[str, Any]) -> Any:
    """A packed matrix (warmserve.http.packing) as the float64 frame MLflow would build."""
    import numpy as np
    import pandas as pd

    columns = list(data["columns"])
    values = np.frombuffer(data["values"], dtype="<f8").reshape(int(data["rows"]), len(columns))
    return pd.DataFrame(values, columns=columns)

"""MLflow's own path: parse the request as the scoring server does, then
``PyFuncModel.predict`` with its schema enforcement. Every model can take it."""

from __future__ import annotations

from typing import Any

from warmserve.errors import BadRequest, SchemaError
from warmserve.protocol import InputForm
from warmserve.runtime import mlflow_compat
from warmserve.runtime.predictors.base import ModelContext, Predictor

ENVELOPE_KEYS = {
    InputForm.SPLIT: "dataframe_split",
    InputForm.RECORDS: "dataframe_records",
    InputForm.INSTANCES: "instances",
    InputForm.INPUTS: "inputs",
}


class PyfuncPredictor:
    name = "pyfunc"

    def __init__(self, pyfunc: Any, input_schema: Any) -> None:
        self.pyfunc = pyfunc
        self.input_schema = input_schema

    def parse(self, form: InputForm, data: Any) -> Any:
        """Build the model input the way `mlflow models serve` does (schema-aware)."""
        try:
            if form is InputForm.CSV:
                return mlflow_compat.parse_csv_input(data, self.input_schema)
            if form is InputForm.TENSORS:
                from warmserve.runtime.tensors.model_input import model_input

                return model_input(data, self.input_schema)
            return mlflow_compat.infer_and_parse_data(
                {ENVELOPE_KEYS[form]: data}, self.input_schema
            )
        except Exception as exc:
            message = getattr(exc, "message", None) or str(exc)
            raise BadRequest(
                f"cannot build the model input from {form.value!r}: {message}"
            ) from exc

    def predict(self, form: InputForm, data: Any, params: dict[str, Any] | None) -> Any:
        model_input = self.parse(form, data)
        try:
            return self.pyfunc.predict(model_input, params=params)
        except Exception as exc:
            message = getattr(exc, "message", None) or str(exc)
            if "schema" in message.lower():
                raise SchemaError(f"input does not match the model signature: {message}") from exc
            raise

    def detail(self) -> dict[str, Any]:
        return {}


def build_pyfunc(context: ModelContext, fallback: Predictor) -> PyfuncPredictor:
    return PyfuncPredictor(context.pyfunc, context.input_schema)

"""MLflow's own path: build the input as the scoring server does, then
``PyFuncModel.predict`` with its schema enforcement. Every model can take it."""

from __future__ import annotations

from typing import Any

from warmserve.protocol import InputForm
from warmserve.runtime.predictors.base import ModelContext, Predictor
from warmserve.runtime.predictors.scoring_input import DEFAULT_MAX_ROWS, ScoringInput


class PyfuncPredictor:
    name = "pyfunc"

    def __init__(self, pyfunc: Any, input_schema: Any, max_rows: int = DEFAULT_MAX_ROWS) -> None:
        self.pyfunc = pyfunc
        self.inputs = ScoringInput(pyfunc.metadata, input_schema, max_rows)

    def parse(self, form: InputForm, data: Any, params: Any = None) -> tuple[Any, Any]:
        """The model input and params, built the way `mlflow models serve` builds them."""
        return self.inputs.build(form, data, params)

    def predict(self, form: InputForm, data: Any, params: Any) -> Any:
        model_input, params = self.parse(form, data, params)
        return self.pyfunc.predict(model_input, params=params)

    def detail(self) -> dict[str, Any]:
        return {}


def build_pyfunc(context: ModelContext, fallback: Predictor) -> PyfuncPredictor:
    return PyfuncPredictor(context.pyfunc, context.input_schema, context.max_rows)

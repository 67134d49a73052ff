"""Parity model whose signature comes from type hints: a list of dicts of floats."""

import mlflow
from mlflow.pyfunc import PythonModel


class Totals(PythonModel):
    def predict(self, model_input: list[dict[str, float]], params=None) -> list[float]:
        return [sum(row.values()) for row in model_input]


mlflow.models.set_model(Totals())

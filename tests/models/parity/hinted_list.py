"""Parity model whose signature comes from type hints: list[str] in, list[str] out."""

import mlflow
from mlflow.pyfunc import PythonModel


class Shout(PythonModel):
    def predict(self, model_input: list[str], params=None) -> list[str]:
        assert isinstance(model_input, list), type(model_input)
        return [text.upper() for text in model_input]


mlflow.models.set_model(Shout())

"""Parity model whose signature comes from type hints: a list of pydantic models."""

import mlflow
import pydantic
from mlflow.pyfunc import PythonModel


class Message(pydantic.BaseModel):
    role: str
    content: str
    weight: float = 1.0


class Summarize(PythonModel):
    def predict(self, model_input: list[Message], params=None) -> list[str]:
        return [f"{m.role}:{m.content}:{m.weight}" for m in model_input]


mlflow.models.set_model(Summarize())

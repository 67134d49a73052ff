"""Parity model for chat/completion payloads: answers what it was given, the way a chat
model answers with choices."""

import mlflow
from mlflow.pyfunc import PythonModel


class Chat(PythonModel):
    def predict(self, context, model_input, params=None):
        return {
            "object": "chat.completion",
            "received": type(model_input).__name__,
            "input": model_input if isinstance(model_input, dict) else str(model_input),
            "params": params,
        }


mlflow.models.set_model(Chat())

"""Parity model without a signature: answers its input unchanged, so the answer shows
exactly what the server built from the request (frame, array, dict, list...)."""

import mlflow
from mlflow.pyfunc import PythonModel


class Echo(PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


mlflow.models.set_model(Echo())

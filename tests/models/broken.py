"""Test model (models-from-code) that loads but fails its warm-up prediction."""

import mlflow
from mlflow.pyfunc import PythonModel


class Broken(PythonModel):
    def predict(self, context, model_input, params=None):
        raise RuntimeError("this version is broken")


mlflow.models.set_model(Broken())

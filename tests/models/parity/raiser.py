"""Parity model: fails on purpose. x == 1: a plain exception; x == 2: an MlflowException
with its own code; x == 3: an MlflowException with INTERNAL_ERROR; otherwise 2 * x."""

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, RESOURCE_EXHAUSTED
from mlflow.pyfunc import PythonModel


class Raiser(PythonModel):
    def predict(self, context, model_input, params=None):
        x = float(model_input["x"].iloc[0])
        if x == 1:
            raise ValueError("secret internals: /srv/model/weights.bin")
        if x == 2:
            raise MlflowException("quota used up", error_code=RESOURCE_EXHAUSTED)
        if x == 3:
            raise MlflowException("the model is in a bad state", error_code=INTERNAL_ERROR)
        return model_input["x"] * 2


mlflow.models.set_model(Raiser())

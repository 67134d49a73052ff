"""Test model (models-from-code): doubles ``x``, but a row with x == 13 gets a value no
JSON encoder can write (a set), the way some flavors return exotic objects."""

import mlflow
from mlflow.pyfunc import PythonModel


class Oddball(PythonModel):
    def predict(self, context, model_input, params=None):
        return [{1, 2} if x == 13 else 2 * x for x in model_input["x"]]


mlflow.models.set_model(Oddball())

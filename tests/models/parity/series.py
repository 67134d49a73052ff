"""Parity model shaped like the statsmodels flavor: predictions as an unnamed pandas
Series carrying the input's index."""

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class Forecast(PythonModel):
    def predict(self, context, model_input, params=None):
        return pd.Series(model_input["a"] * 10 + model_input["b"], index=model_input.index)


mlflow.models.set_model(Forecast())

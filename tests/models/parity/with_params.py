"""Parity model with a params schema: answers the params it received, once per row."""

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class WithParams(PythonModel):
    def predict(self, context, model_input, params=None):
        params = params or {}
        rows = [{"x": x, **{k: params[k] for k in sorted(params)}} for x in model_input["x"]]
        return pd.DataFrame(rows)


mlflow.models.set_model(WithParams())

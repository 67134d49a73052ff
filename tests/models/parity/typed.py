"""Parity model for typed columns: answers each column transformed, so the answer shows
the dtypes the server built (string, long, integer, boolean, datetime, double)."""

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class Typed(PythonModel):
    def predict(self, context, model_input, params=None):
        out = pd.DataFrame(index=model_input.index)
        for name in model_input.columns:
            out[name] = model_input[name]
            out[f"{name}_dtype"] = str(model_input[name].dtype)
        return out


mlflow.models.set_model(Typed())

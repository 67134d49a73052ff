"""Test model (models-from-code) for the v2 protocol: a double, a long, a string and a
boolean column in; a double, a string and a boolean column out. ``scale`` is a param."""

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class TypedColumns(PythonModel):
    def predict(self, context, model_input: pd.DataFrame, params=None):
        scale = (params or {}).get("scale", 1.0)
        return pd.DataFrame(
            {
                "y": (model_input["x"] + model_input["n"]) * scale,
                "label": model_input["s"].str.upper(),
                "negated": ~model_input["flag"].astype(bool),
            }
        )


mlflow.models.set_model(TypedColumns())

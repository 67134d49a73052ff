"""Test model (MLflow models-from-code): doubles column ``x``; optionally sleeps.

Every predict call appends its batch size to ``calls_file`` from the model
config, so tests can see how requests were batched and whether the model ran.
A row with ``sleep`` > 0 makes predict sleep that many seconds; -1 sleeps forever.
A row with ``gate`` == 1 waits until the file ``<calls_file>.gate`` exists.
A row with ``crash`` == 1 kills the process the way a native crash would.
"""

import os
import signal
import time

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class Recorder(PythonModel):
    def load_context(self, context):
        self.calls_file = (context.model_config or {}).get("calls_file")

    def predict(self, context, model_input: pd.DataFrame, params=None):
        if self.calls_file:
            with open(self.calls_file, "a") as f:
                f.write(f"{len(model_input)}\n")
        if "crash" in model_input and (model_input["crash"] == 1).any():
            os.kill(os.getpid(), signal.SIGSEGV)
        if "gate" in model_input and (model_input["gate"] == 1).any():
            gate = f"{self.calls_file}.gate"
            while not os.path.exists(gate):
                time.sleep(0.01)
        if "sleep" in model_input:
            longest = float(model_input["sleep"].max())
            if longest < 0:
                while True:
                    time.sleep(3600)
            time.sleep(longest)
        return pd.DataFrame({"y": model_input["x"] * 2})


mlflow.models.set_model(Recorder())

"""XGBoost and LightGBM bench models, logged with their own MLflow flavors.

warmserve's trainer fits scikit-learn pipelines only; these two are fitted here
the way a data scientist would (the libraries' scikit-learn API, default
threads), on the same synthetic data as bench-lr and bench-rf, and logged with
``mlflow.xgboost`` / ``mlflow.lightgbm`` so the server loads them through those
flavors. Imported by ``prepare_registry.py`` only (a subprocess of the harness).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from sklearn.model_selection import train_test_split

from warmserve.registry.admin import promote as set_alias
from warmserve.registry.connection import connect, ensure_experiment
from warmserve.settings import Settings
from warmserve.training.datasets import synthetic_frame

N_ROWS = 2000  # as warmserve.training.train_synthetic, so all bench models see the same data
LIBRARIES = ("xgboost", "lightgbm")


@dataclass(frozen=True)
class Fitted:
    """What ``warmserve.training.train_synthetic`` tells of a model it trained, in short."""

    version: str
    metric_value: float
    metric_name: str = "accuracy"


def recipe_text(library: str) -> str:
    """What a booster model depends on: this module's code and the library's version."""
    module = __import__(library)
    return f"{library} {module.__version__}\n" + Path(__file__).read_text()


def _estimator(library: str, n_estimators: int, max_depth: int | None) -> tuple[Any, Any]:
    """(the unfitted classifier, its MLflow flavor module); no depth: the library's default."""
    if library == "xgboost":
        import mlflow.xgboost
        import xgboost

        estimator = xgboost.XGBClassifier(
            n_estimators=n_estimators, max_depth=max_depth, random_state=0
        )
        return estimator, mlflow.xgboost
    if library == "lightgbm":
        import lightgbm
        import mlflow.lightgbm

        estimator = lightgbm.LGBMClassifier(
            n_estimators=n_estimators,
            max_depth=-1 if max_depth is None else max_depth,
            random_state=0,
            verbose=-1,
        )
        return estimator, mlflow.lightgbm
    raise ValueError(f"no bench booster for {library!r}; choose from {', '.join(LIBRARIES)}")


def _pins(library: str) -> list[str]:
    """Explicit requirements: MLflow's inference would import the model in a subprocess."""
    import sklearn

    pins = {
        "mlflow": mlflow.__version__,
        library: __import__(library).__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }
    return [f"{name}=={version}" for name, version in pins.items()]


def fit_and_log(
    settings: Settings,
    *,
    name: str,
    estimator: str,
    n_features: int,
    n_estimators: int | None,
    max_depth: int | None,
    promote: str,
) -> Fitted:
    """Fit on synthetic data, log with the library's flavor, register, point ``promote`` at it.

    The signature of ``train_synthetic``; ``estimator`` names the library.
    """
    library = estimator
    if n_estimators is None:
        raise ValueError("a bench booster needs n_estimators")
    X, y = synthetic_frame(n_features=n_features, n_rows=N_ROWS, seed=0)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=0, stratify=y
    )
    model, flavor = _estimator(library, n_estimators, max_depth)
    model.fit(X_train, y_train)
    accuracy = float((model.predict(X_test) == y_test.to_numpy()).mean())
    client = connect(settings)
    experiment_id = ensure_experiment(settings, client)
    with warnings.catch_warnings(), mlflow.start_run(experiment_id=experiment_id):
        warnings.simplefilter("ignore")  # MLflow's deprecation chatter on every save
        mlflow.log_params(
            {"estimator": type(model).__name__, "n_estimators": n_estimators,
             "max_depth": max_depth, "n_rows": N_ROWS, "n_features": n_features}
        )  # fmt: skip
        mlflow.log_metric("accuracy", accuracy)
        info = flavor.log_model(
            model,
            name="model",
            signature=infer_signature(X_train, model.predict(X_train)),
            input_example=X_train.head(3),
            registered_model_name=name,
            pip_requirements=_pins(library),
        )
    version = str(info.registered_model_version)
    set_alias(client, name, version, promote)
    return Fitted(version, accuracy)

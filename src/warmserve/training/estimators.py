"""Which estimator to fit and how: the task rule and the preprocessing pipeline.

The registered model takes the raw feature columns, strings included, because
preprocessing lives inside the Pipeline built here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from warmserve import errors

Task = Literal["auto", "classification", "regression"]
ResolvedTask = Literal["classification", "regression"]

ESTIMATORS = ("auto", "logistic", "linear", "random_forest", "gradient_boosting")
_TASKS_OF = {
    "logistic": {"classification"},
    "linear": {"regression"},
    "random_forest": {"classification", "regression"},
    "gradient_boosting": {"classification", "regression"},
}
# Auto task rule: a numeric target is classification when it is integer-valued,
# has at most this many distinct values, and every value has (on average) at
# least _MIN_ROWS_PER_CLASS rows. Strings/booleans/categories are always classes.
_MAX_AUTO_CLASSES = 20
_MIN_ROWS_PER_CLASS = 5
LOGGED_HYPERPARAMS = ("n_estimators", "max_depth", "alpha", "C", "max_iter")


@dataclass(frozen=True)
class EstimatorOptions:
    """What the user chose about the model itself (``auto`` picks by task)."""

    estimator: str = "auto"
    n_estimators: int | None = None
    max_depth: int | None = None
    seed: int = 0


def infer_task(y: pd.Series) -> ResolvedTask:
    """Documented rule, see _MAX_AUTO_CLASSES: labels or few integer values => classes."""
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return "classification"
    values = y.to_numpy(dtype=float)
    n_distinct = len(np.unique(values))
    integral = bool(np.all(np.mod(values, 1) == 0))
    if integral and n_distinct <= _MAX_AUTO_CLASSES and n_distinct * _MIN_ROWS_PER_CLASS <= len(y):
        return "classification"
    return "regression"


def resolve_task(task: str, y: pd.Series) -> ResolvedTask:
    if task == "auto":
        return infer_task(y)
    if task not in ("classification", "regression"):
        raise errors.BadRequest(f"task must be auto, classification or regression, not {task!r}")
    return "classification" if task == "classification" else "regression"


def check_estimator(estimator: str, task: str | None = None) -> None:
    """Refuse an unknown estimator, or one that cannot do ``task``, before any data arrives."""
    if estimator not in ESTIMATORS:
        choices = ", ".join(ESTIMATORS)
        raise errors.BadRequest(f"unknown estimator {estimator!r}; choose from {choices}")
    known_task = task in ("classification", "regression")
    if estimator != "auto" and known_task and task not in _TASKS_OF[estimator]:
        raise errors.BadRequest(f"estimator {estimator!r} cannot do {task}")


def build_pipeline(X: pd.DataFrame, task: str, opts: EstimatorOptions) -> Any:
    """Preprocessing + estimator, so the logged model accepts the raw columns.

    All-numeric data without gaps gets no imputer or ColumnTransformer: on a
    one-row request those cost ~10 ms per call, far more than the model itself.
    """
    estimator = opts.estimator
    if estimator == "auto":
        estimator = "logistic" if task == "classification" else "linear"
    check_estimator(estimator, task)
    trees = estimator in ("random_forest", "gradient_boosting")
    if not trees and (opts.n_estimators is not None or opts.max_depth is not None):
        raise errors.BadRequest("n_estimators/max_depth apply only to tree estimators")
    classify = task == "classification"
    model: Any
    if estimator == "logistic":
        model = LogisticRegression(max_iter=2000)
    elif estimator == "linear":
        model = Ridge(alpha=1.0)
    else:
        kw: dict[str, Any] = {"random_state": opts.seed, "max_depth": opts.max_depth}
        if opts.n_estimators is not None:
            kw["n_estimators"] = opts.n_estimators
        if estimator == "random_forest":
            model = (RandomForestClassifier if classify else RandomForestRegressor)(**kw)
        else:
            kw["max_depth"] = 3 if opts.max_depth is None else opts.max_depth
            model = (GradientBoostingClassifier if classify else GradientBoostingRegressor)(**kw)
    numeric = [c for c in X.columns if _is_number(X[c])]
    other = [c for c in X.columns if c not in numeric]
    if not other and not X.isna().to_numpy().any():
        return model if trees else make_pipeline(StandardScaler(), model)
    num_steps: list[Any] = [SimpleImputer(strategy="median")]
    if not trees:
        num_steps.append(StandardScaler())  # linear models need comparable scales to converge
    parts: list[tuple[str, Any, list[Any]]] = [("num", make_pipeline(*num_steps), numeric)]
    if other:
        onehot = OneHotEncoder(handle_unknown="ignore")
        parts.append(("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), onehot), other))
    return Pipeline([("prep", ColumnTransformer(parts)), ("model", model)])


def final_estimator(pipeline: Any) -> Any:
    return pipeline.steps[-1][1] if isinstance(pipeline, Pipeline) else pipeline


def hyperparams(pipeline: Any) -> dict[str, Any]:
    model = final_estimator(pipeline)
    return {k: v for k, v in model.get_params().items() if k in LOGGED_HYPERPARAMS}


def _is_number(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)

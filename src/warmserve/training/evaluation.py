"""Scores of a model on labelled rows: the metrics the gate and the runs speak of.

Classification: accuracy, f1 (macro over classes, so a rare class counts as much
as a common one) and auc (one-vs-rest, macro; needs ``predict_proba``).
Regression: rmse, mae and r2. Every metric has a direction; the gate reads it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)

METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("accuracy", "f1", "auc"),
    "regression": ("rmse", "mae", "r2"),
}
HIGHER_IS_BETTER = {
    "accuracy": True,
    "f1": True,
    "auc": True,
    "rmse": False,
    "mae": False,
    "r2": True,
}
# The metric a gate rule uses when the user names none (see docs/trainer.md).
DEFAULT_METRIC = {"classification": "f1", "regression": "r2"}


def evaluate(model: Any, X: pd.DataFrame, y: pd.Series, task: str) -> dict[str, float]:
    """Every metric of ``task`` that can be computed for ``model`` on (X, y).

    A metric that is undefined here (AUC without probabilities, or with a single
    class in ``y``) is left out rather than guessed; the gate reports it missing.
    """
    if len(y) == 0:
        return {}
    predicted = np.asarray(model.predict(X))
    truth = y.to_numpy()
    scores: dict[str, float | None]
    if task == "regression":
        truth_f = truth.astype(float)
        predicted_f = predicted.astype(float)
        scores = {
            "rmse": math.sqrt(float(mean_squared_error(truth_f, predicted_f))),
            "mae": float(mean_absolute_error(truth_f, predicted_f)),
            "r2": float(r2_score(truth_f, predicted_f)) if len(y) > 1 else None,
        }
    else:
        scores = {
            "accuracy": float(accuracy_score(truth, predicted)),
            "f1": float(f1_score(truth, predicted, average="macro", zero_division=0)),
            "auc": _auc(model, X, truth),
        }
    return {k: v for k, v in scores.items() if v is not None and not math.isnan(v)}


def _auc(model: Any, X: pd.DataFrame, truth: np.ndarray) -> float | None:
    classes = getattr(model, "classes_", None)
    if classes is None or not hasattr(model, "predict_proba") or len(np.unique(truth)) < 2:
        return None
    if not set(np.unique(truth)) <= set(classes):
        return None  # a class the model never saw: AUC over its columns is undefined
    proba = np.asarray(model.predict_proba(X))
    if len(classes) == 2:
        return float(roc_auc_score(truth, proba[:, 1], labels=classes))
    present = np.isin(classes, np.unique(truth))
    if not present.all():
        return None
    return float(roc_auc_score(truth, proba, multi_class="ovr", average="macro", labels=classes))

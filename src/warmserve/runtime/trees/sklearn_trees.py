"""scikit-learn forests and boosting models as treelite models, with sklearn's output rules.

Each rule mirrors the estimator's own ``predict``/``predict_proba`` code, so labels
come from the same comparison (``>= 0`` for GradientBoosting, ``> 0`` for
HistGradientBoosting, argmax of the averaged probabilities for forests) and
probabilities from the estimator's own loss object applied to the same margins.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from warmserve.runtime.trees.compiled import Array, NotCompilable, Output
from warmserve.runtime.trees.conversion import Conversion

FORESTS = (
    "RandomForestClassifier",
    "RandomForestRegressor",
    "ExtraTreesClassifier",
    "ExtraTreesRegressor",
)
BOOSTING = ("GradientBoostingClassifier", "GradientBoostingRegressor")
HIST = ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor")


def sklearn_kind(estimator: Any) -> str | None:
    """The class name if it is one of the supported estimators (exactly, not a subclass)."""
    cls = type(estimator)
    if cls.__module__.startswith("sklearn.ensemble") and cls.__name__ in FORESTS + BOOSTING + HIST:
        return cls.__name__
    return None


def convert_sklearn(estimator: Any, method: str) -> Conversion:
    """Convert a fitted supported estimator whose pyfunc calls ``method``."""
    import treelite.sklearn

    name = sklearn_kind(estimator)
    if name is None:
        raise NotCompilable(f"{type(estimator).__name__} is not a supported tree ensemble")
    classifier = name.endswith("Classifier")
    allowed = ("predict", "predict_proba") if classifier else ("predict",)
    if method not in allowed:
        raise NotCompilable(f"the pyfunc calls {name}.{method}; only {allowed} are compiled")
    _check_supported(estimator, name)
    try:
        model = treelite.sklearn.import_model(estimator)
    except Exception as exc:
        raise NotCompilable(f"treelite cannot import {name}: {type(exc).__name__}: {exc}") from exc
    kind = f"sklearn.{name}"
    if name in FORESTS:
        return Conversion(model, kind, _forest_output(estimator, method), margin=False,
                          round_to_float32=True)  # fmt: skip
    if name in BOOSTING:
        return Conversion(model, kind, _boosting_output(estimator, method, hist=False), margin=True,
                          round_to_float32=True)  # fmt: skip
    return Conversion(model, kind, _boosting_output(estimator, method, hist=True), margin=True)


def _check_supported(estimator: Any, name: str) -> None:
    if getattr(estimator, "n_outputs_", 1) != 1:
        raise NotCompilable(f"{name} has {estimator.n_outputs_} outputs; only one is compiled")
    if name in HIST:
        categorical = getattr(estimator, "is_categorical_", None)
        if categorical is not None and bool(np.any(categorical)):
            raise NotCompilable(f"{name} uses categorical features; refused, not approximated")
    if name in BOOSTING + HIST and not hasattr(estimator, "_loss"):
        raise NotCompilable(f"{name} has no loss object to turn margins into predictions")


def _forest_output(estimator: Any, method: str) -> Output:
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        return lambda scores: scores[:, 0, 0].copy()
    if method == "predict_proba":
        return lambda scores: scores[:, 0, :].copy()
    return lambda scores: classes.take(np.argmax(scores[:, 0, :], axis=1), axis=0)


def _boosting_output(estimator: Any, method: str, hist: bool) -> Output:
    """GradientBoosting: labels by ``raw >= 0``, raw regression values.
    HistGradientBoosting: labels by ``raw > 0``, regression through the loss's inverse link."""
    loss = estimator._loss
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        if not hist:
            return lambda scores: scores[:, 0, 0].copy()
        inverse = loss.link.inverse
        return lambda scores: np.asarray(inverse(scores[:, 0, 0].copy()))

    def labels(scores: Array) -> Array:
        raw = scores[:, 0, :]
        if raw.shape[1] == 1:
            side = raw[:, 0] > 0 if hist else raw[:, 0] >= 0
            return np.asarray(classes[side.astype(int)])
        return np.asarray(classes[np.argmax(raw, axis=1)])

    def probabilities(scores: Array) -> Array:
        raw = np.ascontiguousarray(scores[:, 0, :])
        if not hist and raw.shape[1] == 1:  # GradientBoosting's decision_function squeezes
            raw = raw[:, 0].copy()
        return np.asarray(loss.predict_proba(raw))

    return probabilities if method == "predict_proba" else labels

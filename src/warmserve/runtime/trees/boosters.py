"""XGBoost and LightGBM models (sklearn-API estimators and native Boosters) as treelite models.

The output rules mirror what MLflow's pyfunc wrappers return: a Booster's
``predict`` (the objective's transformed scores), ``XGBClassifier.predict``
(``p > 0.5`` or argmax, as int64), ``LGBMClassifier.predict`` (argmax of
``[1 - p, p]`` mapped through ``classes_``) and the regressors' values.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

from warmserve.runtime.trees.compiled import Array, NotCompilable, Output
from warmserve.runtime.trees.conversion import Conversion

XGB_OBJECTIVES = {
    "binary:logistic",
    "multi:softprob",
    "reg:squarederror",
    "reg:absoluteerror",
    "reg:pseudohubererror",
    "reg:logistic",
}
LGB_OBJECTIVES = {
    "binary",
    "multiclass",
    "regression",
    "regression_l1",
    "huber",
    "fair",
    "quantile",
    "mape",
}


def _import(convert: Any, name: str, booster: Any) -> Any:
    try:
        return convert(booster)
    except Exception as exc:
        raise NotCompilable(f"treelite cannot import {name}: {type(exc).__name__}: {exc}") from exc


def convert_xgboost(raw: Any) -> Conversion:
    """XGBClassifier / XGBRegressor / Booster, as mlflow.xgboost's pyfunc predicts them."""
    import treelite.frontend
    import xgboost as xgb

    name = type(raw).__name__
    if isinstance(raw, xgb.Booster):
        booster = raw
    elif type(raw) in (xgb.XGBClassifier, xgb.XGBRegressor):
        booster = raw.get_booster()
        missing = raw.missing
        if not (isinstance(missing, float) and math.isnan(missing)):
            raise NotCompilable(f"{name} treats {missing!r} as missing; only NaN is compiled")
        best = getattr(raw, "best_iteration", None) if _has_best(raw) else None
        if best is not None and best + 1 != booster.num_boosted_rounds():
            raise NotCompilable(f"{name} predicts with the first {best + 1} rounds (early stop)")
    else:
        raise NotCompilable(f"xgboost model {name} is not a supported estimator")
    if any(kind == "c" for kind in booster.feature_types or ()):
        raise NotCompilable(f"{name} uses categorical features; refused, not approximated")
    config = json.loads(booster.save_config())
    objective = config["learner"]["objective"]["name"]
    if objective not in XGB_OBJECTIVES:
        raise NotCompilable(f"xgboost objective {objective!r} is not compiled")
    if int(config["learner"]["learner_model_param"].get("num_target", "1")) != 1:
        raise NotCompilable(f"{name} has several targets; only one is compiled")
    model = _import(treelite.frontend.from_xgboost, name, booster)
    return Conversion(model, f"xgboost.{name}", _xgb_output(raw), margin=False,
                      float32_model=True)  # fmt: skip


def _has_best(raw: Any) -> bool:
    try:
        return raw.best_iteration is not None
    except AttributeError:
        return False


def _xgb_output(raw: Any) -> Output:
    import xgboost as xgb

    def values(scores: Array) -> Array:
        out = scores[:, 0, :] if scores.shape[2] > 1 else scores[:, 0, 0]
        return np.ascontiguousarray(out, dtype=np.float32)

    if not isinstance(raw, xgb.XGBClassifier):
        return values
    n_classes = int(raw.n_classes_)

    def labels(scores: Array) -> Array:
        probs = values(scores)
        if probs.ndim > 1 and n_classes != 2:
            return np.asarray(np.argmax(probs, axis=1))
        column = np.repeat(0, probs.shape[0])
        column[probs > 0.5] = 1
        return column

    return labels


def convert_lightgbm(raw: Any) -> Conversion:
    """LGBMClassifier / LGBMRegressor / Booster, as mlflow.lightgbm's pyfunc predicts them."""
    import lightgbm as lgb
    import treelite.frontend

    name = type(raw).__name__
    if isinstance(raw, lgb.Booster):
        booster = raw
    elif type(raw) in (lgb.LGBMClassifier, lgb.LGBMRegressor):
        if callable(raw.objective):
            raise NotCompilable(f"{name} has a custom objective function")
        booster = raw.booster_
    else:
        raise NotCompilable(f"lightgbm model {name} is not a supported estimator")
    text = booster.model_to_string()
    objective = _lgb_field(text, "objective").split(" ")[0]
    if objective not in LGB_OBJECTIVES:
        raise NotCompilable(f"lightgbm objective {objective!r} is not compiled")
    if re.search(r"^num_cat=[1-9]", text, re.MULTILINE) or re.search(
        r"^pandas_categorical:\[[^\]]", text, re.MULTILINE
    ):
        raise NotCompilable(f"{name} uses categorical features; refused, not approximated")
    if re.search(r"^is_linear=1", text, re.MULTILINE):
        raise NotCompilable(f"{name} has linear trees, which treelite does not represent")
    model = _import(treelite.frontend.from_lightgbm, name, booster)
    softmax = objective == "multiclass"  # treelite's softmax is float32; LightGBM's is double
    return Conversion(model, f"lightgbm.{name}", _lgb_output(raw, softmax), margin=softmax,
                      lightgbm_zero=True)  # fmt: skip


def _lgb_field(text: str, key: str) -> str:
    found = re.search(rf"^{key}=(.*)$", text, re.MULTILINE)
    return found.group(1).strip() if found else ""


def _softmax(raw: Array) -> Array:
    """LightGBM's Common::Softmax, in double precision like LightGBM."""
    exp = np.exp(raw - raw.max(axis=1, keepdims=True))
    return np.asarray(exp / exp.sum(axis=1, keepdims=True))


def _lgb_output(raw: Any, softmax: bool) -> Output:
    import lightgbm as lgb

    def values(scores: Array) -> Array:
        if softmax:
            return _softmax(np.asarray(scores[:, 0, :], dtype=np.float64))
        out = scores[:, 0, :] if scores.shape[2] > 1 else scores[:, 0, 0]
        return np.ascontiguousarray(out, dtype=np.float64)

    if not isinstance(raw, lgb.LGBMClassifier):
        return values
    classes = np.asarray(raw.classes_)

    def labels(scores: Array) -> Array:
        probs = values(scores)
        if probs.ndim == 1:
            probs = np.vstack((1.0 - probs, probs)).transpose()
        return np.asarray(classes.take(np.argmax(probs, axis=1)))

    return labels

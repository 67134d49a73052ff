"""Every supported tree ensemble compiles, verifies against its pyfunc model, and then
predicts exactly what the pyfunc model predicts on rows it has never seen.

Small models trained here on synthetic data, saved with their MLflow flavor and loaded
back with ``mlflow.pyfunc.load_model``: the same objects the model process holds.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import lightgbm as lgb
import mlflow.lightgbm
import mlflow.pyfunc
import mlflow.sklearn
import mlflow.xgboost
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn import ensemble
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from support import save_and_load_flavor
from warmserve.runtime.trees import CompiledTrees, compile_trees, verify

COLUMNS = [f"f{i}" for i in range(5)]
RNG = np.random.default_rng(7)
X = pd.DataFrame(RNG.normal(size=(300, 5)), columns=COLUMNS)
TARGETS = {
    "binary": (X.f0 + X.f1 * X.f2 > 0).astype(int).to_numpy(),
    "three": np.digitize(X.f0 + 0.5 * X.f3, [-0.5, 0.5]),
    "labels": np.where(X.f0 - X.f4 > 0, "yes", "no"),
    "value": (2 * X.f0 + X.f1**2).to_numpy(),
    "count": np.exp(0.5 * X.f0).to_numpy(),
}


pytestmark = pytest.mark.usefixtures("one_openmp_thread")


def save_and_load(flavor: Any, model: Any, path: Path, **kw: Any) -> Any:
    return save_and_load_flavor(flavor, model, path, X, **kw)


def fit(make: Callable[[], Any], target: str) -> Any:
    return make().fit(X, TARGETS[target])


def booster_xgb(objective: str, target: str, **params: Any) -> Any:
    data = xgb.DMatrix(X, TARGETS[target])
    return xgb.train({"objective": objective, "max_depth": 3, "nthread": 1, **params}, data, 8)


def booster_lgb(objective: str, target: str, **params: Any) -> Any:
    data = lgb.Dataset(X, TARGETS[target])
    return lgb.train({"objective": objective, "verbose": -1, "num_threads": 1, **params}, data, 8)


SMALL = {"n_estimators": 8, "max_depth": 4, "random_state": 0}
RF = partial(ensemble.RandomForestClassifier, **SMALL)
GB = partial(ensemble.GradientBoostingClassifier, **SMALL)
HGB = partial(ensemble.HistGradientBoostingClassifier, max_iter=8)
HGBR = partial(ensemble.HistGradientBoostingRegressor, max_iter=8)
XGB = partial(xgb.XGBClassifier, n_estimators=8, max_depth=3, n_jobs=1)
LGB = partial(lgb.LGBMClassifier, n_estimators=8, verbose=-1, n_jobs=1)
PROBA = {"pyfunc_predict_fn": "predict_proba"}
Case = tuple[Any, Callable[[], Any], dict[str, Any]]


def sk(make: Callable[[], Any], target: str, **save_kw: Any) -> Case:
    return mlflow.sklearn, lambda: fit(make, target), save_kw


CASES: dict[str, Case] = {
    "rf-binary": sk(RF, "binary"),
    "rf-string-labels": sk(RF, "labels"),
    "rf-multiclass-proba": sk(RF, "three", **PROBA),
    "rf-regressor": sk(partial(ensemble.RandomForestRegressor, **SMALL), "value"),
    "et-multiclass": sk(partial(ensemble.ExtraTreesClassifier, **SMALL), "three"),
    "et-regressor": sk(partial(ensemble.ExtraTreesRegressor, **SMALL), "value"),
    "gb-binary": sk(GB, "binary"),
    "gb-binary-proba": sk(GB, "binary", **PROBA),
    "gb-multiclass-proba": sk(GB, "three", **PROBA),
    "gb-regressor": sk(partial(ensemble.GradientBoostingRegressor, **SMALL), "value"),
    "hgb-binary": sk(HGB, "binary"),
    "hgb-multiclass-proba": sk(HGB, "three", **PROBA),
    "hgb-regressor": sk(HGBR, "value"),
    "hgb-poisson": sk(partial(HGBR, loss="poisson"), "count"),
    "pipeline-scaler-rf": sk(lambda: make_pipeline(StandardScaler(), RF()), "binary"),
    "pipeline-imputer-gb": sk(
        lambda: make_pipeline(SimpleImputer(), ensemble.GradientBoostingRegressor(**SMALL)), "value"
    ),
    "xgb-classifier": (mlflow.xgboost, lambda: fit(XGB, "binary"), {}),
    "xgb-multiclass": (mlflow.xgboost, lambda: fit(XGB, "three"), {}),
    "xgb-regressor": (
        mlflow.xgboost,
        lambda: fit(partial(xgb.XGBRegressor, n_estimators=8, n_jobs=1), "value"),
        {},
    ),
    "xgb-booster-binary": (mlflow.xgboost, lambda: booster_xgb("binary:logistic", "binary"), {}),
    "xgb-booster-softprob": (
        mlflow.xgboost,
        lambda: booster_xgb("multi:softprob", "three", num_class=3),
        {},
    ),
    "lgb-classifier": (mlflow.lightgbm, lambda: fit(LGB, "labels"), {}),
    "lgb-multiclass": (mlflow.lightgbm, lambda: fit(LGB, "three"), {}),
    "lgb-regressor": (
        mlflow.lightgbm,
        lambda: fit(partial(lgb.LGBMRegressor, n_estimators=8, verbose=-1, n_jobs=1), "value"),
        {},
    ),
    "lgb-booster-binary": (mlflow.lightgbm, lambda: booster_lgb("binary", "binary"), {}),
    "lgb-booster-multiclass": (
        mlflow.lightgbm,
        lambda: booster_lgb("multiclass", "three", num_class=3),
        {},
    ),
}


def fresh_rows(compiled: CompiledTrees, n: int = 400) -> np.ndarray:
    """Rows unlike the verification's: normal noise, training rows nudged, and zeros."""
    noise = RNG.normal(scale=1.5, size=(n, len(COLUMNS)))
    nudged = X.to_numpy()[:n] + RNG.normal(scale=1e-7, size=(min(n, len(X)), len(COLUMNS)))
    return np.vstack([noise, nudged, np.zeros((1, len(COLUMNS)))])


def assert_same(actual: np.ndarray, expected: np.ndarray, tolerance: float) -> None:
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    if np.issubdtype(expected.dtype, np.floating):
        np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance)
    else:
        np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("case", list(CASES))
def test_compiles_verifies_and_matches_fresh_rows(case: str, tmp_path: Path) -> None:
    flavor, train, save_kw = CASES[case]
    pyfunc = save_and_load(flavor, train(), tmp_path / case, **save_kw)
    compiled = compile_trees(pyfunc, COLUMNS)

    facts = compiled.describe()
    assert facts["backend"] == compiled.backend == "treelite"
    assert facts["kind"].split(".")[0] in ("sklearn", "xgboost", "lightgbm")
    assert facts["n_trees"] >= 8 and facts["n_features"] == len(COLUMNS)
    assert ("in Pipeline" in facts["kind"]) == case.startswith("pipeline")

    report = verify(compiled, pyfunc, COLUMNS, pyfunc.input_example, n_generated=500)
    assert report.ok, report.reason
    assert report.rows_checked == 503
    assert report.max_abs_diff is not None and report.max_abs_diff <= report.tolerance
    assert report.leaf_coverage is not None and report.leaf_coverage > 0.5
    assert report.to_dict()["ok"] is True

    rows = fresh_rows(compiled)
    expected = np.asarray(pyfunc.predict(pd.DataFrame(rows, columns=COLUMNS)))
    assert_same(compiled.predict(rows), expected, report.tolerance)


def test_missing_values_behave_as_the_original(tmp_path: Path) -> None:
    """HistGradientBoosting routes NaN; GradientBoosting refuses it, and so does its twin."""
    rows = fresh_rows_with_nan()
    routes = save_and_load(mlflow.sklearn, fit(HGBR, "value"),
                           tmp_path / "hgb")  # fmt: skip
    compiled = compile_trees(routes, COLUMNS)
    expected = np.asarray(routes.predict(pd.DataFrame(rows, columns=COLUMNS)))
    assert_same(compiled.predict(rows), expected, compiled.tolerance)

    refuses = save_and_load(mlflow.sklearn,
                            fit(lambda: ensemble.GradientBoostingRegressor(**SMALL), "value"),
                            tmp_path / "gb")  # fmt: skip
    compiled = compile_trees(refuses, COLUMNS)
    assert "nan" in compiled.describe()["refuses"]
    with pytest.raises(ValueError, match="NaN"):
        refuses.predict(pd.DataFrame(rows, columns=COLUMNS))
    with pytest.raises(ValueError, match="NaN"):
        compiled.predict(rows)


def fresh_rows_with_nan() -> np.ndarray:
    rows = RNG.normal(size=(200, len(COLUMNS)))
    rows[RNG.random(rows.shape) < 0.2] = np.nan
    return rows


def test_float32_rounding_at_a_threshold_follows_sklearn(tmp_path: Path) -> None:
    """sklearn compares float32(x) with a float64 threshold t. Where float32(t) rounds up,
    x == t goes right in sklearn but left in a plain float64 walk; the compiled forest
    must go right."""
    import treelite.gtil

    pyfunc = save_and_load(mlflow.sklearn,
                           fit(lambda: ensemble.RandomForestRegressor(**SMALL), "value"),
                           tmp_path / "rf")  # fmt: skip
    compiled = compile_trees(pyfunc, COLUMNS)
    rows = []
    for estimator in pyfunc.get_raw_model().estimators_:
        tree = estimator.tree_
        for feature, threshold in zip(tree.feature, tree.threshold, strict=True):
            if feature >= 0 and float(np.float32(threshold)) > threshold:
                row = np.zeros(len(COLUMNS))
                row[feature] = threshold
                rows.append(row)
    matrix = np.array(rows)
    expected = np.asarray(pyfunc.predict(pd.DataFrame(matrix, columns=COLUMNS)))
    assert_same(compiled.predict(matrix), expected, compiled.tolerance)
    unrounded = treelite.gtil.predict(compiled.model, matrix, nthread=1)[:, 0, 0]
    assert not np.array_equal(unrounded, expected)  # the rounding is what makes it right

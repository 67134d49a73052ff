"""Compiled trees on the models the project really serves: trained by warmserve's own
trainer, registered in a real MLflow registry (SQLite file), loaded back through the
model process's loader; and 200-tree XGBoost / LightGBM models. Each compiles, passes
the full verification, and then answers 5,000 unseen rows exactly as pyfunc does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import lightgbm as lgb
import mlflow
import mlflow.lightgbm
import mlflow.xgboost
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from support import isolated_registry, save_and_load_flavor
from warmserve.registry import connect, resolve
from warmserve.runtime.model import load_model
from warmserve.runtime.trees import compile_trees, verify
from warmserve.settings import Settings
from warmserve.training import train_and_register, train_synthetic
from warmserve.training.datasets import synthetic_frame

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_openmp_thread")]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with isolated_registry(tmp_path_factory.mktemp("trees-registry")) as settings:
        yield settings


def unseen_rows(columns: list[str], n: int = 5000) -> np.ndarray:
    """Another draw of the synthetic data, nudged a little, plus some wider noise."""
    X, _ = synthetic_frame(n_features=len(columns), n_rows=n, seed=11)
    rng = np.random.default_rng(5)
    rows = X.to_numpy() + rng.normal(scale=1e-3, size=X.shape)
    rows[: n // 10] = rng.normal(scale=4.0, size=(n // 10, len(columns)))
    return rows


def check(pyfunc: object, columns: list[str], example: pd.DataFrame | None) -> None:
    compiled = compile_trees(pyfunc, columns)
    report = verify(compiled, pyfunc, columns, example)
    assert report.ok, report.reason
    assert report.leaf_coverage is not None and report.leaf_coverage > 0.3
    rows = unseen_rows(columns)
    expected = np.asarray(pyfunc.predict(pd.DataFrame(rows, columns=columns)))  # type: ignore[attr-defined]
    actual = compiled.predict(rows)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    if np.issubdtype(expected.dtype, np.floating):
        np.testing.assert_allclose(actual, expected, rtol=report.tolerance, atol=report.tolerance)
    else:
        np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize(
    ("estimator", "n_estimators", "max_depth"),
    [("random_forest", 200, 12), ("gradient_boosting", 200, 3)],
)
def test_trainer_models_from_the_registry(
    settings: Settings, estimator: str, n_estimators: int, max_depth: int
) -> None:
    name = f"trees-{estimator}"
    train_synthetic(settings, name=name, estimator=estimator, n_estimators=n_estimators,
                    max_depth=max_depth, promote="production")  # fmt: skip
    loaded = load_model(resolve(f"models:/{name}@production", connect(settings)))
    columns = [str(spec.name) for spec in loaded.pyfunc.metadata.get_input_schema().inputs]
    assert loaded.served.predictor is not None
    assert loaded.served.predictor.name == "compiled-trees"  # chosen and verified at load
    check(loaded.pyfunc, columns, loaded.pyfunc.input_example)


def test_trainer_pipeline_with_imputer(settings: Settings, tmp_path: Path) -> None:
    """A CSV with gaps makes the trainer put a ColumnTransformer(SimpleImputer) first."""
    X, y = synthetic_frame(n_features=6, n_rows=600, seed=3)
    X.iloc[::7, 2] = np.nan
    csv = tmp_path / "gaps.csv"
    X.assign(label=y).to_csv(csv, index=False)
    options = {"estimator": "random_forest", "n_estimators": 50, "promote": "production"}
    train_and_register(settings, name="trees-gaps", data=csv, target="label", **options)
    loaded = load_model(resolve("models:/trees-gaps@production", connect(settings)))
    columns = [str(spec.name) for spec in loaded.pyfunc.metadata.get_input_schema().inputs]
    compiled = compile_trees(loaded.pyfunc, columns)
    assert compiled.describe()["kind"] == "sklearn.RandomForestClassifier in Pipeline"
    assert "nan" not in compiled.describe()["refuses"]  # the imputer takes NaN
    check(loaded.pyfunc, columns, loaded.pyfunc.input_example)


@pytest.mark.parametrize(
    "model",
    [
        lambda: xgb.XGBClassifier(n_estimators=200, max_depth=6, n_jobs=1),
        lambda: xgb.XGBRegressor(n_estimators=200, max_depth=6, n_jobs=1),
        lambda: lgb.LGBMClassifier(n_estimators=200, verbose=-1, n_jobs=1),
        lambda: lgb.LGBMRegressor(n_estimators=200, verbose=-1, n_jobs=1),
    ],
    ids=["xgb-classifier", "xgb-regressor", "lgb-classifier", "lgb-regressor"],
)
def test_200_tree_boosters(model: object, tmp_path: Path) -> None:
    X, y = synthetic_frame(n_features=20, n_rows=3000, seed=0)
    estimator = model()  # type: ignore[operator]
    target = y if "Classifier" in type(estimator).__name__ else X.f0 * 3 + X.f1**2
    flavor = mlflow.xgboost if type(estimator).__module__.startswith("xgboost") else mlflow.lightgbm
    pyfunc = save_and_load_flavor(flavor, estimator.fit(X, target), tmp_path / "m", X)
    check(pyfunc, list(X.columns), pyfunc.input_example)

"""What the compiled path refuses (NotCompilable with a reason, nothing else), and what
verification catches: a compiled model that is wrong must never pass."""

from __future__ import annotations

import warnings
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
from mlflow.models import infer_signature
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from support import ROOT, save_and_load_flavor
from warmserve.runtime.trees import NotCompilable, compile_trees, verify
from warmserve.runtime.trees.boosters import LGB_OBJECTIVES, XGB_OBJECTIVES

COLUMNS = ["a", "b", "c"]
RNG = np.random.default_rng(3)
X = pd.DataFrame(RNG.normal(size=(200, 3)), columns=COLUMNS)
Y = (X.a + X.b > 0).astype(int).to_numpy()


pytestmark = pytest.mark.usefixtures("one_openmp_thread")


def save_and_load(flavor: Any, model: Any, path: Path, frame: pd.DataFrame = X, **kw: Any) -> Any:
    return save_and_load_flavor(flavor, model, path, frame, **kw)


def refusal(pyfunc: Any, columns: list[str] = COLUMNS) -> str:
    with pytest.raises(NotCompilable) as caught:
        compile_trees(pyfunc, columns)
    assert caught.value.reason == str(caught.value)
    return caught.value.reason


class Doubler(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        return model_input["a"] * 2


def test_linear_model_is_refused(tmp_path: Path) -> None:
    pyfunc = save_and_load(mlflow.sklearn, LogisticRegression().fit(X, Y), tmp_path / "m")
    assert "LogisticRegression is not a supported tree ensemble" in refusal(pyfunc)


def test_string_one_hot_pipeline_is_refused(tmp_path: Path) -> None:
    frame = X.assign(colour=np.where(X.c > 0, "red", "blue"))
    encode = ColumnTransformer([("hot", OneHotEncoder(), ["colour"])], remainder="passthrough")
    model = make_pipeline(encode, RandomForestClassifier(n_estimators=3)).fit(frame, Y)
    pyfunc = save_and_load(mlflow.sklearn, model, tmp_path / "m", frame=frame)
    assert "'colour' is string; only double is compiled" in refusal(pyfunc, list(frame.columns))


def test_custom_pyfunc_is_refused(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.pyfunc.save_model(str(tmp_path / "m"), python_model=Doubler(),
                                 signature=infer_signature(X), pip_requirements=[])  # fmt: skip
    pyfunc = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    assert "mlflow.pyfunc.model flavor is not a tree ensemble flavor" in refusal(pyfunc)


def test_unsupported_details_are_refused(tmp_path: Path) -> None:
    forest = RandomForestClassifier(n_estimators=3).fit(X, Y)
    log_proba = save_and_load(mlflow.sklearn, forest, tmp_path / "lp",
                              pyfunc_predict_fn="predict_log_proba")  # fmt: skip
    assert "predict_log_proba" in refusal(log_proba)

    two_targets = RandomForestRegressor(n_estimators=3).fit(X, np.column_stack([Y, Y]))
    assert "2 outputs" in refusal(save_and_load(mlflow.sklearn, two_targets, tmp_path / "mo"))

    categorical = HistGradientBoostingClassifier(max_iter=3, categorical_features=[0])
    frame = X.assign(a=RNG.integers(0, 4, size=len(X)).astype(float))
    cat = save_and_load(mlflow.sklearn, categorical.fit(frame, Y), tmp_path / "cat", frame=frame)
    assert "categorical" in refusal(cat)

    poisson = xgb.train({"objective": "count:poisson"}, xgb.DMatrix(X, Y), 3)
    assert "'count:poisson' is not compiled" in refusal(
        save_and_load(mlflow.xgboost, poisson, tmp_path / "xp")
    )

    by_category = np.isin(frame.a, [1.0, 3.0]).astype(int)  # only a categorical split fits
    data = lgb.Dataset(frame, by_category, categorical_feature=[0])
    params = {"objective": "binary", "verbose": -1, "min_data_per_group": 5, "cat_smooth": 1}
    lgb_cat = lgb.train(params, data, 3)
    assert "num_cat=1" in lgb_cat.model_to_string()
    assert "categorical" in refusal(save_and_load(mlflow.lightgbm, lgb_cat, tmp_path / "lc"))

    plain = save_and_load(mlflow.sklearn, forest, tmp_path / "plain")
    assert "differ from the signature" in refusal(plain, ["b", "a", "c"])


def test_anything_unexpected_is_a_refusal_not_a_crash() -> None:
    assert "conversion failed" in refusal(object())


def test_tampered_threshold_fails_verification(tmp_path: Path) -> None:
    model = GradientBoostingRegressor(n_estimators=5, max_depth=3, random_state=0)
    pyfunc = save_and_load(mlflow.sklearn, model.fit(X, X.a * 3 + X.b), tmp_path / "m")
    compiled = compile_trees(pyfunc, COLUMNS)
    assert verify(compiled, pyfunc, COLUMNS, pyfunc.input_example).ok

    tree = compiled.model.get_tree_accessor(0)
    threshold = tree.get_field("threshold").copy()  # a view into the model: copy before set
    threshold[0] += 0.25  # the root split of the first tree moves a little to the right
    tree.set_field("threshold", threshold)
    report = verify(compiled, pyfunc, COLUMNS, pyfunc.input_example)
    assert not report.ok
    assert "differ by more than the tolerance" in report.reason
    assert report.max_abs_diff is not None and report.max_abs_diff > report.tolerance


def test_verification_reports_instead_of_raising(tmp_path: Path) -> None:
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, Y)
    pyfunc = save_and_load(mlflow.sklearn, forest, tmp_path / "m")
    compiled = compile_trees(pyfunc, COLUMNS)
    bad_example = pd.DataFrame({"a": ["x"], "b": [1.0], "c": [2.0]})
    report = verify(compiled, pyfunc, COLUMNS, bad_example)
    assert not report.ok and report.rows_checked == 0
    assert "verification failed" in report.reason

    def wrong_labels(scores: np.ndarray) -> np.ndarray:
        return np.ones(scores.shape[0], dtype=np.int64)  # the right dtype, the wrong answer

    compiled.output = wrong_labels
    report = verify(compiled, pyfunc, COLUMNS, None)
    assert not report.ok
    assert "labels differ" in report.reason


def test_docs_list_exactly_the_compiled_objectives() -> None:
    """docs/compiled-trees.md's table names the objectives the converters accept."""
    rows = (ROOT / "docs" / "compiled-trees.md").read_text().splitlines()
    for flavor, objectives in (
        ("mlflow.xgboost", XGB_OBJECTIVES),
        ("mlflow.lightgbm", LGB_OBJECTIVES),
    ):
        row = next(line for line in rows if line.startswith(f"| `{flavor}`"))
        models = row.split("|")[2]
        documented = set(
            models[models.index("(") + 1 : models.rindex(")")].replace("`", "").split(", ")
        )
        assert documented == objectives

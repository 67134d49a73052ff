"""The compiled-linear predictor: scikit-learn linear models as numpy arithmetic, chosen only
when proven equal to MLflow's pyfunc path, and declined with a reason otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import ElasticNet, LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, PolynomialFeatures, StandardScaler

from support import save_and_load_flavor
from warmserve.protocol import InputForm
from warmserve.runtime.predictors import Declined, ModelContext
from warmserve.runtime.predictors.linear import build_linear, linear_model, verify
from warmserve.runtime.predictors.pyfunc import PyfuncPredictor

COLUMNS = [f"f{i}" for i in range(6)]


def frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(n, len(COLUMNS))) * [1, 10, 0.1, 5, 1, 3], columns=COLUMNS)


def labels(x: pd.DataFrame, classes: int) -> Any:
    score = x["f0"] + 0.1 * x["f1"] - 3 * x["f2"]
    return pd.cut(score, classes, labels=False) if classes > 2 else (score > 0).astype(int)


def context(model: Any, path: Path, y: Any, **flavor: Any) -> ModelContext:
    x = frame(300, 1)
    model.fit(x, y(x))
    pyfunc = save_and_load_flavor(mlflow.sklearn, model, path, x, **flavor)
    return ModelContext(pyfunc, pyfunc.metadata.get_input_schema(), pyfunc.input_example)


CASES = {
    "binary logistic in a pipeline": (
        lambda: make_pipeline(StandardScaler(), LogisticRegression()),
        lambda x: labels(x, 2),
    ),
    "multiclass logistic": (lambda: LogisticRegression(max_iter=500), lambda x: labels(x, 4)),
    "string classes": (
        lambda: LogisticRegression(),
        lambda x: np.where(labels(x, 2) == 1, "churn", "stay"),
    ),
    "linear regression, min-max": (
        lambda: make_pipeline(MinMaxScaler(), LinearRegression()),
        lambda x: x["f0"] * 3 - x["f3"],
    ),
    "ridge, two targets": (lambda: Ridge(), lambda x: np.column_stack([x["f0"], x["f1"] * 2])),
    "imputer, scaler, elastic net": (
        lambda: make_pipeline(SimpleImputer(), StandardScaler(), ElasticNet(alpha=0.01)),
        lambda x: x["f0"] - x["f4"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_linear_models_are_served_as_numpy_and_answer_as_pyfunc(case: str, tmp_path: Path) -> None:
    build, target = CASES[case]
    ctx = context(build(), tmp_path / "model", target)
    predictor = build_linear(ctx, PyfuncPredictor(ctx.pyfunc, ctx.input_schema))
    assert predictor.detail()["verification"]["ok"] is True
    fresh = frame(200, 7)
    rows = {"columns": COLUMNS, "data": fresh.to_numpy().tolist()}
    expected = np.asarray(ctx.pyfunc.predict(fresh))
    actual = np.asarray(predictor.predict(InputForm.SPLIT, rows, None))
    assert actual.dtype == expected.dtype
    np.testing.assert_array_equal(actual, expected)  # the same bits, not merely close


def test_inputs_it_does_not_compute_go_to_the_fallback(tmp_path: Path) -> None:
    ctx = context(LogisticRegression(), tmp_path / "model", lambda x: labels(x, 2))

    class Fallback:
        name = "fallback"
        seen: list[Any] = []

        def predict(self, form: InputForm, data: Any, params: Any) -> Any:
            self.seen.append(data)
            return "fallback"

        def detail(self) -> dict[str, Any]:
            return {}

    predictor = build_linear(ctx, Fallback())
    with_nan = {"columns": COLUMNS, "data": [[float("nan"), 1, 2, 3, 4, 5]]}
    strings = {"columns": COLUMNS, "data": [["x", 1, 2, 3, 4, 5]]}
    assert predictor.predict(InputForm.SPLIT, with_nan, None) == "fallback"
    assert predictor.predict(InputForm.SPLIT, strings, None) == "fallback"
    assert predictor.predict(InputForm.CSV, "f0\n1\n", None) == "fallback"
    assert len(Fallback.seen) == 3


@pytest.mark.parametrize(
    ("build", "flavor", "reason"),
    [
        (lambda: make_pipeline(PolynomialFeatures(), LinearRegression()), {}, "PolynomialFeatures"),
        (lambda: LogisticRegression(), {"pyfunc_predict_fn": "predict_proba"}, "predict_proba"),
    ],
)
def test_what_it_cannot_compute_exactly_is_declined(
    build: Any, flavor: dict[str, Any], reason: str, tmp_path: Path
) -> None:
    ctx = context(build(), tmp_path / "model", lambda x: labels(x, 2), **flavor)
    with pytest.raises(Declined, match=reason):
        build_linear(ctx, PyfuncPredictor(ctx.pyfunc, ctx.input_schema))


def test_a_wrong_coefficient_is_caught_by_the_verification(tmp_path: Path) -> None:
    ctx = context(Ridge(), tmp_path / "model", lambda x: x["f0"] + x["f1"])
    model = linear_model(ctx.pyfunc.get_raw_model(), len(COLUMNS))
    model.coef[0, 1] *= 1.0001
    checked, why = verify(model, ctx.pyfunc, tuple(COLUMNS), ctx.input_example)
    assert checked > 1000 and why is not None and "differ" in why


@pytest.mark.parametrize("case", ["linear regression, min-max", "ridge, two targets"])
@pytest.mark.parametrize("rows", [1, 2, 7, 64])
def test_regression_values_are_the_bits_mlflow_answers(
    case: str, rows: int, tmp_path: Path
) -> None:
    """Not merely close: a drop-in answers the floats `mlflow models serve` answers."""
    build, target = CASES[case]
    ctx = context(build(), tmp_path / "model", target)
    predictor = build_linear(ctx, PyfuncPredictor(ctx.pyfunc, ctx.input_schema))
    for seed in range(20):
        fresh = frame(rows, 100 + seed)
        split = {"columns": COLUMNS, "data": fresh.to_numpy().tolist()}
        expected = np.asarray(ctx.pyfunc.predict(fresh))
        np.testing.assert_array_equal(predictor.predict(InputForm.SPLIT, split, None), expected)

"""The linear path: scikit-learn linear models (and their numeric pipelines) as numpy arithmetic.

A one-row ``Pipeline(StandardScaler, LogisticRegression).predict`` on a DataFrame
costs about 0.8 ms, almost all of it input validation and feature-name checks;
the arithmetic is a 20-element dot product. At load the coefficients are read
once, the same operations scikit-learn performs (``(x - mean) / scale``, then
``x @ coef.T + intercept``, then the class rule) are set up in numpy, and the
result is proven equal to the pyfunc path on the input example plus generated
rows — identical labels, regression values within 1e-9 relative (in practice
the same bits: the matrix has the layout MLflow gives scikit-learn) — before it
serves. Anything else declines with the reason and keeps the next path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from warmserve.runtime.predictors.base import Declined, ModelContext, Predictor
from warmserve.runtime.predictors.compiled import CompiledPredictor
from warmserve.runtime.predictors.numeric import numeric_columns

TOLERANCE = 1e-9  # relative, on regression outputs; labels must be identical
VERIFY_ROWS = 2000
INLINE_ROWS = 4096  # more rows go to the fallback on the predict thread (bulk scoring)
CLASSIFIERS = ("LogisticRegression", "RidgeClassifier", "LinearSVC", "SGDClassifier")
REGRESSORS = ("LinearRegression", "Ridge", "Lasso", "ElasticNet", "SGDRegressor", "LinearSVR")

Step = Callable[[Any], Any]


@dataclass(frozen=True)
class LinearModel:
    """The model as numpy steps: transforms, the affine map, the output rule."""

    kind: str
    steps: tuple[Step, ...]
    coef: Any  # (outputs, features)
    intercept: Any  # (outputs,)
    classes: Any | None  # labels, for a classifier
    flat: bool  # a regressor with a 1-D coef answers a 1-D array

    def predict(self, x: Any) -> Any:
        import numpy as np

        # MLflow hands scikit-learn the columns of a DataFrame: a Fortran-ordered
        # matrix. BLAS sums in an order that follows the layout, so the same layout
        # gives the same bits (a C-ordered copy differed in the last bit).
        x = np.asfortranarray(x)
        for step in self.steps:
            x = step(x)
        # The product scikit-learn computes, in the same shape: a matrix-vector product
        # for a 1-D coef, matrix-matrix otherwise. BLAS sums the two in different orders,
        # so the other shape could differ from the model in the last bit.
        scores = x @ (self.coef[0] if self.flat else self.coef.T) + self.intercept
        if self.classes is None:
            return scores
        if scores.shape[1] == 1:
            return self.classes[(scores[:, 0] > 0).astype(np.intp)]
        return self.classes[scores.argmax(axis=1)]


def _transform(step: Any) -> Step:
    """A preprocessing step as the numpy operations scikit-learn performs."""
    import numpy as np

    kind = type(step).__name__
    if step is None or step == "passthrough":
        return lambda x: x
    if kind == "StandardScaler":
        mean = step.mean_ if step.with_mean else None
        scale = step.scale_ if step.with_std else None

        def standard(x: Any) -> Any:
            if mean is not None:
                x = x - mean
            if scale is not None:
                x = x / scale
            return x

        return standard
    if kind == "MinMaxScaler" and not step.clip:
        scale, low = step.scale_, step.min_
        return lambda x: x * scale + low
    if kind == "MaxAbsScaler":
        scale = step.scale_
        return lambda x: x / scale
    if kind == "SimpleImputer" and _is_nan(step.missing_values):
        fill = step.statistics_
        if np.isnan(fill).any():
            raise Declined("an imputer that drops all-missing columns")
        return lambda x: np.where(np.isnan(x), fill, x)
    raise Declined(f"a {kind} step has no exact numpy form here")


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def linear_model(raw: Any, width: int) -> LinearModel:
    """The model as numpy steps, or Declined (only exact equivalents are accepted)."""
    import numpy as np

    steps: list[Any] = list(raw.steps) if type(raw).__name__ == "Pipeline" else [("m", raw)]
    transforms = tuple(_transform(step) for _, step in steps[:-1])
    final = steps[-1][1]
    kind = type(final).__name__
    coef = getattr(final, "coef_", None)
    intercept = getattr(final, "intercept_", None)
    if kind not in CLASSIFIERS + REGRESSORS or coef is None:
        raise Declined(f"{kind} is not a linear model this path computes")
    coef = np.atleast_2d(np.array(coef, dtype=np.float64))  # a copy: never the model's own
    intercept = np.atleast_1d(np.array(intercept, dtype=np.float64))
    if coef.shape[1] != width:
        raise Declined(f"the model reads {coef.shape[1]} features, the signature has {width}")
    classes = np.asarray(final.classes_) if kind in CLASSIFIERS else None
    if classes is not None and coef.shape[0] not in (1, len(classes)):
        raise Declined("the coefficients do not match the classes")
    flat = classes is None and np.ndim(final.coef_) == 1
    kind_text = f"sklearn.{kind}" + (" in Pipeline" if len(steps) > 1 else "")
    return LinearModel(kind_text, transforms, coef, intercept, classes, flat)


def _rows(model: LinearModel, example: Any, columns: tuple[str, ...], rng: Any) -> Any:
    """Rows to compare on: the example, then values around it and around the origin."""
    import numpy as np

    width = len(columns)
    base = np.zeros((1, width))
    try:
        if example is not None and hasattr(example, "columns"):
            base = example[list(columns)].to_numpy(dtype=np.float64)
    except Exception:
        pass
    spread = np.maximum(np.abs(base).max(axis=0), 1.0)
    noise = rng.normal(size=(VERIFY_ROWS, width)) * spread * 2
    centers = base[rng.integers(0, len(base), VERIFY_ROWS)]
    return np.vstack([base, centers + noise, noise])


def verify(
    model: LinearModel, pyfunc: Any, columns: tuple[str, ...], example: Any
) -> tuple[int, str | None]:
    """(rows compared, None when equal to the pyfunc path on every one, else why not)."""
    import numpy as np

    rows = _rows(model, example, columns, np.random.default_rng(0))
    return len(rows), _differences(model, pyfunc, columns, rows)


def _differences(
    model: LinearModel, pyfunc: Any, columns: tuple[str, ...], rows: Any
) -> str | None:
    import numpy as np
    import pandas as pd

    expected = np.asarray(pyfunc.predict(pd.DataFrame(rows, columns=list(columns))))
    actual = np.asarray(model.predict(rows))
    if actual.shape != expected.shape or actual.dtype != expected.dtype:
        return (
            f"output {actual.dtype}{actual.shape} against pyfunc's {expected.dtype}{expected.shape}"
        )
    if not np.issubdtype(expected.dtype, np.floating):
        wrong = int(np.sum(actual != expected))
        return f"{wrong} of {len(rows)} labels differ" if wrong else None
    bound = TOLERANCE * np.maximum(1.0, np.abs(expected))
    worst = int(np.sum(np.abs(actual - expected) > bound))
    return f"{worst} values differ by more than {TOLERANCE:g} relative" if worst else None


def build_linear(context: ModelContext, fallback: Predictor) -> CompiledPredictor:
    if not context.compiled_models:
        raise Declined("turned off (compiled_models=false)")
    columns = numeric_columns(context)
    conf = context.pyfunc.metadata.flavors.get("python_function", {})
    if conf.get("loader_module") != "mlflow.sklearn":
        raise Declined("not a scikit-learn model")
    if conf.get("predict_fn", "predict") != "predict":
        raise Declined(f"the flavor predicts with {conf.get('predict_fn')}")
    try:
        model = linear_model(context.pyfunc.get_raw_model(), len(columns))
        checked, why = verify(model, context.pyfunc, columns, context.input_example)
    except Declined:
        raise
    except Exception as exc:
        raise Declined(f"conversion failed: {type(exc).__name__}: {exc}") from exc
    if why is not None:
        raise Declined(f"not equal to the pyfunc path: {why}")
    detail = {
        "kind": model.kind,
        "verification": {"ok": True, "rows_checked": checked, "tolerance": TOLERANCE},
    }
    return CompiledPredictor(
        "compiled-linear", columns, model.predict, detail, fallback, INLINE_ROWS, finite_only=True
    )

"""Train a scikit-learn model, log it to MLflow and register a new version.

This is the "training job" of the design: enough to get a real registered
model behind the server in one command (built-in datasets or a user CSV), not
an AutoML tool. The registered model takes the raw feature columns, strings
included, because preprocessing lives inside a Pipeline.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cloudpickle
import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
import sklearn
from mlflow.models import infer_signature
from sklearn import datasets
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from warmserve import errors
from warmserve.registry.admin import promote as set_alias
from warmserve.registry.admin import validate_alias, validate_model_name
from warmserve.registry.connection import connect, ensure_experiment, registry_errors
from warmserve.settings import Settings

log = logging.getLogger(__name__)

Task = Literal["auto", "classification", "regression"]

# Built-in dataset -> its task. All ship inside scikit-learn: nothing is downloaded.
BUILTIN_DATASETS: dict[str, str] = {
    "iris": "classification",
    "wine": "classification",
    "breast_cancer": "classification",
    "diabetes": "regression",
    "synthetic": "classification",  # make_classification, 20 float features f0..f19
}
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
_LOGGED_HYPERPARAMS = ("n_estimators", "max_depth", "alpha", "C", "max_iter")


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    name: str
    version: str
    alias: str | None
    metric_name: str
    metric_value: float
    model_uri: str


@dataclass(frozen=True)
class _Options:
    estimator: str = "auto"
    task: Task = "auto"
    promote: str | None = None
    test_size: float = 0.2
    seed: int = 0
    n_estimators: int | None = None
    max_depth: int | None = None


def train_and_register(
    settings: Settings,
    *,
    name: str,
    dataset: str | None = None,
    data: Path | None = None,
    target: str | None = None,
    estimator: str = "auto",
    task: Task = "auto",
    promote: str | None = None,
    test_size: float = 0.2,
    seed: int = 0,
    n_estimators: int | None = None,
    max_depth: int | None = None,
) -> TrainResult:
    """Train on a built-in dataset or a CSV, register it as a new version of ``name``."""
    opts = _Options(estimator, task, promote, test_size, seed, n_estimators, max_depth)
    if (dataset is None) == (data is None):
        raise errors.BadRequest("give exactly one of dataset (built-in) or data (a CSV file)")
    if data is not None:
        X, y = csv_frame(data, target)
        return _fit_and_log(settings, name, X, y, {"data": str(Path(data).resolve())}, opts)
    assert dataset is not None
    if target is not None:
        raise errors.BadRequest("target applies only to a CSV (data); built-ins know theirs")
    if dataset == "synthetic":
        X, y = synthetic_frame(n_features=20, n_rows=2000, seed=seed)
    else:
        X, y = builtin_frame(dataset)
    return _fit_and_log(settings, name, X, y, {"dataset": dataset}, opts)


def train_synthetic(
    settings: Settings,
    *,
    name: str,
    estimator: str,
    n_features: int = 20,
    n_rows: int = 2000,
    n_estimators: int | None = None,
    max_depth: int | None = None,
    promote: str | None = None,
) -> TrainResult:
    """Benchmark model: make_classification with float features f0..f{n-1}."""
    X, y = synthetic_frame(n_features=n_features, n_rows=n_rows, seed=0)
    opts = _Options(
        estimator, "classification", promote, n_estimators=n_estimators, max_depth=max_depth
    )
    return _fit_and_log(settings, name, X, y, {"dataset": f"synthetic_{n_rows}x{n_features}"}, opts)


def sanitize_column(label: str) -> str:
    """Turn "sepal length (cm)" into "sepal_length_cm": safe as a JSON key or CSV header."""
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_") or "feature"


def builtin_frame(dataset: str) -> tuple[pd.DataFrame, pd.Series]:
    """Load a dataset shipped inside scikit-learn, with JSON/CSV-friendly column names."""
    if dataset not in BUILTIN_DATASETS or dataset == "synthetic":
        names = ", ".join(BUILTIN_DATASETS)
        raise errors.BadRequest(f"unknown dataset {dataset!r}; built-in datasets: {names}")
    bunch = getattr(datasets, f"load_{dataset}")()  # load_iris, ... (never fetch_*)
    columns = [sanitize_column(str(label)) for label in bunch.feature_names]
    return pd.DataFrame(bunch.data, columns=columns), pd.Series(bunch.target, name="target")


def synthetic_frame(*, n_features: int, n_rows: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    X, y = datasets.make_classification(
        n_samples=n_rows,
        n_features=n_features,
        n_informative=max(2, n_features // 2),
        random_state=seed,
    )
    columns = [f"f{i}" for i in range(n_features)]
    return pd.DataFrame(X, columns=columns), pd.Series(y, name="target")


def csv_frame(data: Path, target: str | None) -> tuple[pd.DataFrame, pd.Series]:
    """Read a user CSV and split off the target column (rows without a target are dropped)."""
    if not target:
        raise errors.BadRequest("training on a CSV needs a target column (--target)")
    try:
        frame = pd.read_csv(data)
    except FileNotFoundError as exc:
        raise errors.BadRequest(f"data file {str(data)!r} does not exist") from exc
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise errors.BadRequest(f"cannot read CSV {str(data)!r}: {exc}") from exc
    if target not in frame.columns:
        columns = ", ".join(map(str, frame.columns))
        raise errors.BadRequest(
            f"target column {target!r} not in {str(data)!r}; columns: {columns}"
        )
    frame = frame.dropna(subset=[target])
    X = frame.drop(columns=[target])
    if X.shape[1] == 0:
        raise errors.BadRequest(f"{str(data)!r} has no feature columns besides {target!r}")
    if len(frame) < 10:
        raise errors.BadRequest(f"{str(data)!r} has {len(frame)} labelled rows; need at least 10")
    return X, frame[target]


def infer_task(y: pd.Series) -> Literal["classification", "regression"]:
    """Documented rule, see _MAX_AUTO_CLASSES: labels or few integer values => classes."""
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return "classification"
    values = y.to_numpy(dtype=float)
    n_distinct = len(np.unique(values))
    integral = bool(np.all(np.mod(values, 1) == 0))
    if integral and n_distinct <= _MAX_AUTO_CLASSES and n_distinct * _MIN_ROWS_PER_CLASS <= len(y):
        return "classification"
    return "regression"


def build_pipeline(X: pd.DataFrame, task: str, opts: _Options) -> Any:
    """Preprocessing + estimator, so the logged model accepts the raw columns.

    All-numeric data without gaps gets no imputer or ColumnTransformer: on a
    one-row request those cost ~10 ms per call, far more than the model itself.
    """
    estimator = opts.estimator
    if estimator == "auto":
        estimator = "logistic" if task == "classification" else "linear"
    if estimator not in _TASKS_OF:
        choices = ", ".join(ESTIMATORS)
        raise errors.BadRequest(f"unknown estimator {estimator!r}; choose from {choices}")
    if task not in _TASKS_OF[estimator]:
        raise errors.BadRequest(f"estimator {estimator!r} cannot do {task}")
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


def _is_number(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _fit_and_log(
    settings: Settings,
    name: str,
    X: pd.DataFrame,
    y: pd.Series,
    source: dict[str, str],
    opts: _Options,
) -> TrainResult:
    """Split, fit, score on the held-out part, log + register, optionally promote."""
    validate_model_name(name)
    if opts.promote is not None:
        validate_alias(opts.promote)
    if not 0.0 < opts.test_size < 1.0:
        raise errors.BadRequest(f"test_size must be between 0 and 1, got {opts.test_size}")
    task = infer_task(y) if opts.task == "auto" else opts.task
    if task not in ("classification", "regression"):
        raise errors.BadRequest(f"task must be auto, classification or regression, not {task!r}")
    pipeline = build_pipeline(X, task, opts)
    classify = task == "classification"
    stratify = y if classify and y.value_counts().min() >= 2 else None
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=opts.test_size, random_state=opts.seed, stratify=stratify
    )
    pipeline.fit(X_train, y_train)
    scorer, metric_name = (accuracy_score, "accuracy") if classify else (r2_score, "r2")
    metric_value = float(scorer(y_test, pipeline.predict(X_test)))

    model = pipeline.steps[-1][1] if isinstance(pipeline, Pipeline) else pipeline
    hyper = {k: v for k, v in model.get_params().items() if k in _LOGGED_HYPERPARAMS}
    params = {
        **source,
        "estimator": opts.estimator,
        "model_class": type(model).__name__,
        "task": task,
        "test_size": opts.test_size,
        "seed": opts.seed,
        "n_rows": len(X),
        "n_features": X.shape[1],
        **hyper,
    }
    client = connect(settings)
    experiment_id = ensure_experiment(settings, client)
    with (
        registry_errors(f"training run for model {name!r}"),
        _quiet_mlflow(),
        mlflow.start_run(experiment_id=experiment_id) as run,
    ):
        mlflow.log_params(params)
        mlflow.log_metric(metric_name, metric_value)
        signature = infer_signature(X_train, pipeline.predict(X_train))
        # cloudpickle, not MLflow 3's default skops: with skops, saving any tree
        # model fails ("untrusted types: sklearn.tree._tree.Tree") unless each
        # type is listed as trusted. The registry is trusted input -- whoever can
        # write to it can run code on the server anyway.
        info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            signature=signature,
            input_example=X_train.head(3),
            registered_model_name=name,
            pip_requirements=_pip_requirements(),
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        )
    version = str(info.registered_model_version)
    if opts.promote:
        set_alias(client, name, version, opts.promote)
    result = TrainResult(
        run_id=run.info.run_id,
        name=name,
        version=version,
        alias=opts.promote,
        metric_name=metric_name,
        metric_value=metric_value,
        model_uri=f"models:/{name}/{version}",
    )
    summary = f"{type(model).__name__} on {next(iter(source.values()))}"
    log.info("trained %s: %s=%.4f -> %s", summary, metric_name, metric_value, result.model_uri)
    return result


def _pip_requirements() -> list[str]:
    """Explicit pins: skips MLflow's slow requirement inference (it imports the model)."""
    return [
        f"mlflow=={mlflow.__version__}",
        f"scikit-learn=={sklearn.__version__}",
        f"cloudpickle=={cloudpickle.__version__}",
        f"numpy=={np.__version__}",
        f"pandas=={pd.__version__}",
    ]


def _not_pickle_notice(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("Saving scikit-learn models in the pickle")


@contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """Silence noise MLflow emits on every save, for the duration of one run.

    Its multi-line "pickle is unsafe" notice (we chose cloudpickle on purpose,
    see the call) and deprecation chatter from its own internals (e.g. pandas 3
    warnings inside mlflow.models.utils) would teach users to ignore the log.
    """
    target = logging.getLogger("mlflow.sklearn")
    target.addFilter(_not_pickle_notice)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"mlflow\.")
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"mlflow\.")
            # Integer columns stay "long" in the signature on purpose (the spec of
            # the data); MLflow's paragraph-long hint about NaN in ints is noise here.
            warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
            yield
    finally:
        target.removeFilter(_not_pickle_notice)

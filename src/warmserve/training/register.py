"""Fit, log to MLflow and register a new version: the "training job" of the design.

``train_and_register`` is `warmserve train` (built-in datasets or a user CSV);
``log_and_register`` is the shared second half the trainer service uses too.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloudpickle
import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
import sklearn
from mlflow.data.pandas_dataset import from_pandas
from mlflow.models import infer_signature
from sklearn.model_selection import train_test_split

from warmserve import errors
from warmserve.registry.admin import promote as set_alias
from warmserve.registry.admin import validate_alias, validate_model_name
from warmserve.registry.connection import connect, ensure_experiment, registry_errors
from warmserve.settings import Settings
from warmserve.training.datasets import builtin_frame, csv_frame, synthetic_frame
from warmserve.training.estimators import (
    EstimatorOptions,
    Task,
    build_pipeline,
    final_estimator,
    hyperparams,
    resolve_task,
)
from warmserve.training.evaluation import evaluate

log = logging.getLogger(__name__)


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
class DatasetRecord:
    """One dataset a run used, logged with ``mlflow.log_input`` (digest + source)."""

    frame: pd.DataFrame
    source: str
    digest: str
    name: str
    context: str  # "training" or "evaluation"
    target: str | None = None


@dataclass(frozen=True)
class Registration:
    run_id: str
    version: str


@dataclass(frozen=True)
class RunRecord:
    """Everything written to one MLflow run besides the model itself."""

    params: Mapping[str, Any]
    metrics: Mapping[str, float]
    datasets: Sequence[DatasetRecord] = ()
    version_tags: Mapping[str, str] = field(default_factory=dict)


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
    opts = EstimatorOptions(estimator, n_estimators, max_depth, seed)
    if (dataset is None) == (data is None):
        raise errors.BadRequest("give exactly one of dataset (built-in) or data (a CSV file)")
    if data is not None:
        X, y = csv_frame(data, target)
        source = {"data": str(Path(data).resolve())}
    else:
        assert dataset is not None
        if target is not None:
            raise errors.BadRequest("target applies only to a CSV (data); built-ins know theirs")
        if dataset == "synthetic":
            X, y = synthetic_frame(n_features=20, n_rows=2000, seed=seed)
        else:
            X, y = builtin_frame(dataset)
        source = {"dataset": dataset}
    return _fit_and_log(settings, name, X, y, source, opts, task, promote, test_size)


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
    opts = EstimatorOptions(estimator, n_estimators, max_depth)
    source = {"dataset": f"synthetic_{n_rows}x{n_features}"}
    return _fit_and_log(settings, name, X, y, source, opts, "classification", promote, 0.2)


def _fit_and_log(
    settings: Settings,
    name: str,
    X: pd.DataFrame,
    y: pd.Series,
    source: dict[str, str],
    opts: EstimatorOptions,
    task_choice: str,
    promote: str | None,
    test_size: float,
) -> TrainResult:
    """Split, fit, score on the held-out part, log + register, optionally promote."""
    validate_model_name(name)
    if promote is not None:
        validate_alias(promote)
    if not 0.0 < test_size < 1.0:
        raise errors.BadRequest(f"test_size must be between 0 and 1, got {test_size}")
    task = resolve_task(task_choice, y)
    pipeline = build_pipeline(X, task, opts)
    classify = task == "classification"
    stratify = y if classify and y.value_counts().min() >= 2 else None
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=opts.seed, stratify=stratify
    )
    pipeline.fit(X_train, y_train)
    metric_name = "accuracy" if classify else "r2"
    metric_value = evaluate(pipeline, X_test, y_test, task)[metric_name]
    params = {
        **source,
        "estimator": opts.estimator,
        "model_class": type(final_estimator(pipeline)).__name__,
        "task": task,
        "test_size": test_size,
        "seed": opts.seed,
        "n_rows": len(X),
        "n_features": X.shape[1],
        **hyperparams(pipeline),
    }
    record = RunRecord(params=params, metrics={metric_name: metric_value})
    registered = log_and_register(settings, name, pipeline, X_train, record)
    if promote:
        set_alias(connect(settings), name, registered.version, promote)
    result = TrainResult(
        run_id=registered.run_id,
        name=name,
        version=registered.version,
        alias=promote,
        metric_name=metric_name,
        metric_value=metric_value,
        model_uri=f"models:/{name}/{registered.version}",
    )
    summary = f"{params['model_class']} on {next(iter(source.values()))}"
    log.info("trained %s: %s=%.4f -> %s", summary, metric_name, metric_value, result.model_uri)
    return result


def log_and_register(
    settings: Settings, name: str, pipeline: Any, X_train: pd.DataFrame, record: RunRecord
) -> Registration:
    """Log one fitted pipeline as an MLflow run and register it as a new version of ``name``."""
    client = connect(settings)
    experiment_id = ensure_experiment(settings, client)
    with (
        registry_errors(f"training run for model {name!r}"),
        _quiet_mlflow(),
        mlflow.start_run(experiment_id=experiment_id) as run,
    ):
        mlflow.log_params(dict(record.params))
        mlflow.log_metrics(dict(record.metrics))
        for data in record.datasets:
            dataset = from_pandas(
                data.frame, source=data.source, targets=data.target, name=data.name,
                digest=data.digest,
            )  # fmt: skip
            mlflow.log_input(dataset, context=data.context)
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
        for key, value in record.version_tags.items():
            client.set_model_version_tag(name, version, key, value)
    return Registration(run_id=run.info.run_id, version=version)


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
            # A local path is a valid dataset source; MLflow only wonders which class reads it.
            warnings.filterwarnings("ignore", message="The specified dataset source can be")
            yield
    finally:
        target.removeFilter(_not_pickle_notice)

"""Register the benchmark models in a local MLflow registry (skipped when up to date).

Run by ``bench/throughput.py`` in a subprocess, so the orchestrator itself never
imports MLflow or scikit-learn (it stays small and quiet while it measures).

    .venv/bin/python bench/prepare_registry.py --home bench/.home

A model is trained again when the version behind its alias was made by another
*recipe*: the bench parameters plus the source of warmserve's training module
(scikit-learn models) or of ``booster_models.py`` and the library's version
(XGBoost, LightGBM). So a change to how a model is built is never benchmarked
on a stale model left in bench/.home.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import booster_models
import mlflow.pyfunc
from sklearn.pipeline import Pipeline

from warmserve import training
from warmserve.errors import ModelNotAvailable
from warmserve.registry import connect, resolve
from warmserve.settings import Settings
from warmserve.training import train_synthetic

ALIAS = "production"
N_FEATURES = 20
RECIPE_TAG = "bench_recipe"
MARKER = "BENCH_MODELS "


@dataclass(frozen=True)
class BenchModel:
    name: str
    estimator: str  # a warmserve training estimator, or a library of booster_models
    n_estimators: int | None = None
    max_depth: int | None = None

    @property
    def source(self) -> str:
        return f"models:/{self.name}@{ALIAS}"

    @property
    def is_booster(self) -> bool:
        return self.estimator in booster_models.LIBRARIES

    def recipe(self) -> str:
        parts = ["datasets.py"]  # the synthetic data every bench model is fitted on
        if not self.is_booster:
            parts += ["estimators.py", "register.py"]  # how warmserve builds and logs it
        text = repr(self) + "".join(
            Path(training.__file__).with_name(part).read_text() for part in parts
        )
        if self.is_booster:
            text += booster_models.recipe_text(self.estimator)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


MODELS = {
    "lr": BenchModel("bench-lr", "logistic"),
    "rf": BenchModel("bench-rf", "random_forest", n_estimators=200, max_depth=12),
    "xgb": BenchModel("bench-xgb", "xgboost", n_estimators=200),  # depth 6, XGBoost's default
    "lgbm": BenchModel("bench-lgbm", "lightgbm", n_estimators=200),  # 31 leaves, the default
}


def current_recipe(settings: Settings, model: BenchModel) -> tuple[str, str | None] | None:
    """(version, its recipe tag) behind the alias, or None if there is none."""
    client = connect(settings)
    try:
        version = resolve(model.source, client).version
    except ModelNotAvailable:
        return None
    tags = client.get_model_version(model.name, version).tags or {}
    return version, tags.get(RECIPE_TAG)


def ensure_model(settings: Settings, model: BenchModel) -> dict[str, Any]:
    """Train and register ``model`` unless its alias already points at this recipe."""
    recipe = model.recipe()
    found = current_recipe(settings, model)
    if found is not None and found[1] == recipe:
        version, action = found[0], "already registered"
    else:
        version, action = train(settings, model)
        connect(settings).set_model_version_tag(model.name, version, RECIPE_TAG, recipe)
    print(f"{model.source} -> version {version}: {action}", flush=True)
    return {
        "name": model.name,
        "version": version,
        "recipe": recipe,
        "pipeline": describe(f"models:/{model.name}/{version}"),
    }


def train(settings: Settings, model: BenchModel) -> tuple[str, str]:
    """Fit, log and register ``model``, alias included: (its version, what was done)."""
    fit: Callable[..., Any] = booster_models.fit_and_log if model.is_booster else train_synthetic
    result = fit(
        settings,
        name=model.name,
        estimator=model.estimator,
        n_features=N_FEATURES,
        n_estimators=model.n_estimators,
        max_depth=model.max_depth,
        promote=ALIAS,
    )
    return str(result.version), f"trained ({result.metric_name} {result.metric_value:.3f})"


def describe(uri: str) -> str:
    """The estimator chain of a logged model, e.g. StandardScaler -> LogisticRegression."""
    estimator = mlflow.pyfunc.load_model(uri).get_raw_model()
    if isinstance(estimator, Pipeline):
        return " -> ".join(type(step).__name__ for _, step in estimator.steps)
    return type(estimator).__name__


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, required=True, help="WARMSERVE_HOME of the bench")
    parser.add_argument("--models", default="lr,rf", help=f"comma-separated: {', '.join(MODELS)}")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = Settings(home=args.home, tracking_uri=None)
    described = {key: ensure_model(settings, MODELS[key]) for key in args.models.split(",")}
    print(MARKER + json.dumps(described), flush=True)


if __name__ == "__main__":
    main()

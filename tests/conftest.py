"""Shared fixtures and the two test layers.

``tests/unit`` holds in-process tests of each seam (seconds); ``tests/e2e`` holds tests
with real processes and real services (minutes). Each test is marked with its layer,
so ``pytest -m unit`` runs the fast layer alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        layer = Path(str(item.fspath)).resolve().relative_to(TESTS).parts[0]
        if layer in ("unit", "e2e"):
            item.add_marker(getattr(pytest.mark, layer))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh WARMSERVE_HOME (embedded SQLite registry + artifacts) for one test."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own in the shared Redis; its keys are deleted after."""
    import redis

    from support import REDIS_URL

    prefix = f"warmserve-test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    for name in client.scan_iter(match=prefix + "*"):
        client.delete(name)
    client.close()


@pytest.fixture(scope="module")
def one_openmp_thread() -> Iterator[None]:
    """OpenMP pools spin on a busy 2-core machine and make small fits slow: one thread each."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


NUMERIC_COLUMNS = tuple(f"f{i}" for i in range(20))
TARGETS = [0, 1, 1, 0] * 50  # two classes, any frame of up to 200 rows


def save_sklearn(model: Any, frame: Any, path: Path) -> Path:
    """Save a fitted model as MLflow does (signature and input example), no registry."""
    import mlflow.sklearn
    from mlflow.models import infer_signature

    mlflow.sklearn.save_model(
        model.fit(frame, TARGETS[: len(frame)]),
        path,
        signature=infer_signature(frame, model.predict(frame)),
        input_example=frame.head(3),
        pip_requirements=["scikit-learn"],  # no requirement inference (a subprocess)
    )
    return path


@pytest.fixture(scope="session")
def numeric_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LogisticRegression on 20 float columns, saved by MLflow in a tmp dir."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7)
    frame = pd.DataFrame(rng.normal(size=(200, 20)), columns=list(NUMERIC_COLUMNS))
    path = tmp_path_factory.mktemp("models") / "numeric"
    return save_sklearn(LogisticRegression(max_iter=500), frame, path)


@pytest.fixture(scope="session")
def mixed_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model whose signature has a string column (one-hot encoded, then a logistic
    regression), saved by MLflow in a tmp dir."""
    import pandas as pd
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.DataFrame({"plan": ["a", "b", "c", "a"] * 10, "n": [float(i) for i in range(40)]})
    model = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["plan"]), remainder="passthrough"),
        LogisticRegression(),
    )
    return save_sklearn(model, frame, tmp_path_factory.mktemp("models") / "mixed")

"""Registry package against a real MLflow registry (SQLite file under tmp_path).

Creating a fresh MLflow database runs its migrations (a few seconds), so most
tests share one module-scoped registry and use their own model names.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import mlflow.artifacts
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from warmserve import errors
from warmserve.registry import (
    ParsedSource,
    connect,
    delete_alias,
    ensure_experiment,
    format_models,
    list_models,
    parse_source,
    promote,
    resolve,
)
from warmserve.settings import Settings
from warmserve.training import train_and_register, train_synthetic
from warmserve.training.datasets import sanitize_column
from warmserve.training.estimators import infer_task

IRIS_ROW = {
    "sepal_length_cm": 5.1,
    "sepal_width_cm": 3.5,
    "petal_length_cm": 1.4,
    "petal_width_cm": 0.2,
}


@dataclass
class Registry:
    settings: Settings
    cwd: Path
    iris_run_id: str


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """One SQLite registry for the module, with iris-clf v1 @production."""
    base = tmp_path_factory.mktemp("registry")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("WARMSERVE_TRACKING_URI", raising=False)
        mp.chdir(base)  # so a stray ./mlruns would show up here
        settings = Settings(home=base / "home")
        result = train_and_register(settings, name="iris-clf", dataset="iris", promote="production")
        assert (result.version, result.alias) == ("1", "production")
        yield Registry(settings=settings, cwd=base, iris_run_id=result.run_id)
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    mlflow.set_registry_uri(None)  # type: ignore[arg-type]


@pytest.fixture
def client(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    """Re-point mlflow's globals at the shared registry (another test may have moved them)."""
    monkeypatch.chdir(registry.cwd)
    return connect(registry.settings)


# --- parse_source ------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("models:/churn@production", ParsedSource("alias", "churn", "production", None)),
        ("models:/churn@canary-2", ParsedSource("alias", "churn", "canary-2", None)),
        ("models:/churn", ParsedSource("alias", "churn", "production", None)),
        ("models:/churn/3", ParsedSource("version", "churn", "3", None)),
        ("models:/churn/latest", ParsedSource("alias", "churn", "latest", None)),
        ("models:/churn/Production", ParsedSource("stage", "churn", "Production", None)),
        ("models:/churn/staging", ParsedSource("stage", "churn", "Staging", None)),
        ("models:/churn/ARCHIVED", ParsedSource("stage", "churn", "Archived", None)),
        ("models:/churn/none", ParsedSource("stage", "churn", "None", None)),
        ("runs:/abc123/model", ParsedSource("run", None, "abc123", "model")),
        ("runs:/abc123/nested/model", ParsedSource("run", None, "abc123", "nested/model")),
        ("/srv/models/churn", ParsedSource("path", None, None, "/srv/models/churn")),
        ("relative/dir", ParsedSource("path", None, None, "relative/dir")),
        ("file:///srv/my%20model", ParsedSource("path", None, None, "/srv/my model")),
    ],
)
def test_parse_source_forms(source: str, expected: ParsedSource) -> None:
    assert parse_source(source) == expected


@pytest.mark.parametrize(
    "source",
    [
        "",
        "models:/",
        "models:",
        "models:/@x",
        "models:/churn@",
        "models:/churn@bad alias",
        "models:/churn/",
        "models:/churn/3/extra",
        "models:/churn/shiny",
        "models://churn/3",
        "runs:/abc",
        "runs:/abc/",
        "runs://abc/model",
        "s3://bucket/model",
        "file://otherhost/srv/model",
    ],
)
def test_parse_source_malformed(source: str) -> None:
    with pytest.raises(errors.BadRequest) as info:
        parse_source(source)
    assert "models:/NAME@ALIAS" in info.value.message  # says which forms are accepted


# --- resolve against the registry --------------------------------------------


def test_alias_resolves_to_pinned_version_that_loads(client: MlflowClient) -> None:
    mv = resolve("models:/iris-clf@production", client)
    assert (mv.name, mv.version, mv.alias) == ("iris-clf", "1", "production")
    assert mv.load_uri == "models:/iris-clf/1"
    assert mv.run_id
    assert mv.to_dict()["load_uri"] == "models:/iris-clf/1"
    assert resolve("models:/iris-clf", client).version == "1"  # default alias
    assert resolve("models:/iris-clf/1", client).alias is None

    model = mlflow.pyfunc.load_model(mv.load_uri)
    assert list(model.predict(pd.DataFrame([IRIS_ROW]))) == [0]  # setosa


def test_new_version_and_moving_alias(client: MlflowClient, registry: Registry) -> None:
    """A second train makes v2; promote moves the alias and resolve follows."""
    settings = registry.settings
    first = train_and_register(settings, name="iris-move", dataset="iris", promote="production")
    # Random forest: MLflow 3's default skops format would refuse to load it.
    second = train_and_register(
        settings, name="iris-move", dataset="iris", estimator="random_forest", n_estimators=20
    )
    assert (first.version, second.version) == ("1", "2")
    assert second.alias is None and second.model_uri == "models:/iris-move/2"
    assert second.metric_name == "accuracy" and second.metric_value > 0.8
    assert resolve("models:/iris-move@production", client).version == "1"
    assert resolve("models:/iris-move/latest", client).version == "2"

    promote(client, "iris-move", "2", "production")
    moved = resolve("models:/iris-move@production", client)
    assert (moved.version, moved.load_uri) == ("2", "models:/iris-move/2")
    forest = mlflow.pyfunc.load_model(moved.load_uri)
    assert len(forest.predict(pd.DataFrame([IRIS_ROW, IRIS_ROW]))) == 2

    delete_alias(client, "iris-move", "production")
    with pytest.raises(errors.ModelNotAvailable, match="production"):
        resolve("models:/iris-move@production", client)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # MLflow's own stage deprecation notice
def test_stage_resolves_with_deprecation_warning(
    client: MlflowClient, caplog: pytest.LogCaptureFixture
) -> None:
    client.transition_model_version_stage("iris-clf", "1", "Staging")
    with caplog.at_level(logging.WARNING, logger="warmserve.registry.source"):
        mv = resolve("models:/iris-clf/staging", client)
    assert (mv.version, mv.load_uri, mv.alias) == ("1", "models:/iris-clf/1", None)
    assert any("deprecated" in r.getMessage() and "alias" in r.getMessage() for r in caplog.records)
    with pytest.raises(errors.ModelNotAvailable, match="Archived"):
        resolve("models:/iris-clf/Archived", client)


def test_run_source(client: MlflowClient, registry: Registry) -> None:
    source = f"runs:/{registry.iris_run_id}/model"
    mv = resolve(source, client)
    assert (mv.load_uri, mv.version, mv.run_id, mv.name) == (
        source,
        registry.iris_run_id,
        registry.iris_run_id,
        None,
    )
    model = mlflow.pyfunc.load_model(mv.load_uri)
    assert list(model.predict(pd.DataFrame([IRIS_ROW]))) == [0]
    with pytest.raises(errors.ModelNotAvailable, match="run"):
        resolve("runs:/0123456789abcdef0123456789abcdef/model", client)


def test_local_dir_source(client: MlflowClient, tmp_path: Path) -> None:
    local = Path(mlflow.artifacts.download_artifacts("models:/iris-clf/1", dst_path=str(tmp_path)))
    mv = resolve(str(local), client)
    assert mv.load_uri == str(local.resolve())
    assert mv.name == local.name and mv.alias is None and mv.run_id is None
    assert mv.version.startswith("local-") and len(mv.version) == len("local-") + 12
    assert resolve(local.as_uri(), client).version == mv.version  # file:// form, stable id
    model = mlflow.pyfunc.load_model(mv.load_uri)
    assert list(model.predict(pd.DataFrame([IRIS_ROW]))) == [0]

    mlmodel = local / "MLmodel"
    stat = mlmodel.stat()
    os.utime(mlmodel, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert resolve(str(local), client).version != mv.version  # rewritten in place => new id

    with pytest.raises(errors.ModelNotAvailable, match="does not exist"):
        resolve(str(tmp_path / "nope"), client)
    (tmp_path / "empty").mkdir()
    with pytest.raises(errors.ModelNotAvailable, match="MLmodel"):
        resolve(str(tmp_path / "empty"), client)


@pytest.mark.parametrize(
    "source",
    ["models:/iris-clf@nosuchalias", "models:/no-such-model@production", "models:/iris-clf/99"],
)
def test_missing_things_are_model_not_available(client: MlflowClient, source: str) -> None:
    with pytest.raises(errors.ModelNotAvailable):
        resolve(source, client)


@pytest.mark.timeout(60)
def test_unreachable_registry_is_registry_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(home=tmp_path / "home", tracking_uri=f"http://127.0.0.1:{port}")
    client = connect(settings)
    assert not (tmp_path / "home").exists()  # remote registry: nothing created locally
    started = time.monotonic()
    with pytest.raises(errors.RegistryError, match=str(port)):
        resolve("models:/churn@production", client)
    with pytest.raises(errors.RegistryError):
        ensure_experiment(settings, client)
    assert time.monotonic() - started < 30  # no retry storm (generous: a hang guard)


# --- training -----------------------------------------------------------------


def test_train_on_csv_with_mixed_column_types(
    client: MlflowClient, registry: Registry, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    n = 120
    city = rng.choice(["paris", "lyon", "nice"], size=n)
    rooms = rng.integers(1, 6, size=n)
    area = rng.uniform(20.0, 120.0, size=n)
    label = np.where((city == "paris") | (area > 90), "pricey", "cheap")
    csv = tmp_path / "homes.csv"
    pd.DataFrame({"city": city, "rooms": rooms, "area": area, "label": label}).to_csv(
        csv, index=False
    )
    settings = registry.settings
    result = train_and_register(settings, name="homes", data=csv, target="label")
    assert result.metric_name == "accuracy"  # string target => classification

    model = mlflow.pyfunc.load_model(result.model_uri)
    assert model.metadata.signature is not None
    types = {c.name: c.type.name for c in model.metadata.signature.inputs.inputs}
    assert types == {"city": "string", "rooms": "long", "area": "double"}
    raw = pd.DataFrame({"city": ["paris", "nice"], "rooms": [2, 3], "area": [30.0, 40.0]})
    assert list(model.predict(raw)) == ["pricey", "cheap"]


def test_train_synthetic_for_benchmarks(client: MlflowClient, registry: Registry) -> None:
    settings = registry.settings
    result = train_synthetic(
        settings, name="synth", estimator="random_forest", n_rows=300, n_estimators=10, max_depth=4
    )
    model = mlflow.pyfunc.load_model(result.model_uri)
    assert model.metadata.signature is not None
    assert model.metadata.signature.inputs.input_names() == [f"f{i}" for i in range(20)]
    row = pd.DataFrame([dict.fromkeys((f"f{i}" for i in range(20)), 0.1)])
    assert len(model.predict(row)) == 1


def test_regression_dataset(client: MlflowClient, registry: Registry) -> None:
    settings = registry.settings
    result = train_and_register(settings, name="diabetes-reg", dataset="diabetes")
    assert result.metric_name == "r2" and 0.2 < result.metric_value < 1.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one"),
        ({"dataset": "iris", "data": Path("x.csv")}, "exactly one"),
        ({"dataset": "mnist"}, "unknown dataset"),
        ({"dataset": "iris", "estimator": "svm"}, "unknown estimator"),
        ({"dataset": "diabetes", "estimator": "logistic"}, "cannot do regression"),
        ({"dataset": "iris", "estimator": "linear"}, "cannot do classification"),
        ({"dataset": "iris", "n_estimators": 10}, "tree estimators"),
        ({"dataset": "iris", "test_size": 1.5}, "test_size"),
        ({"dataset": "iris", "promote": "latest"}, "reserved"),
        ({"data": Path("/nonexistent/x.csv"), "target": "y"}, "does not exist"),
        ({"data": Path("/nonexistent/x.csv")}, "target column"),
    ],
)
def test_train_rejects_bad_requests(tmp_path: Path, kwargs: dict[str, object], match: str) -> None:
    settings = Settings(home=tmp_path / "home")
    with pytest.raises(errors.BadRequest, match=match):
        train_and_register(settings, name="bad", **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "home").exists()  # validated before touching the registry


def test_csv_missing_target_column(tmp_path: Path) -> None:
    csv = tmp_path / "d.csv"
    pd.DataFrame({"a": range(20), "b": range(20)}).to_csv(csv, index=False)
    with pytest.raises(errors.BadRequest, match=r"'y' not in .*columns: a, b"):
        train_and_register(Settings(home=tmp_path / "h"), name="m", data=csv, target="y")


def test_task_rule_and_column_names() -> None:
    assert infer_task(pd.Series(["a", "b"] * 10)) == "classification"
    assert infer_task(pd.Series([0, 1, 2] * 10)) == "classification"
    assert infer_task(pd.Series([0.0, 1.0] * 10)) == "classification"
    assert infer_task(pd.Series(np.linspace(0, 1, 30))) == "regression"
    assert infer_task(pd.Series(range(100))) == "regression"  # too many distinct values
    assert sanitize_column("sepal length (cm)") == "sepal_length_cm"
    assert sanitize_column("od280/od315_of_diluted_wines") == "od280_od315_of_diluted_wines"


# --- artifacts location, admin --------------------------------------------------


def test_artifacts_live_under_home(client: MlflowClient, registry: Registry) -> None:
    home = registry.settings.home
    experiment = client.get_experiment_by_name("warmserve")
    assert experiment is not None
    assert experiment.artifact_location == registry.settings.artifact_root().as_uri()
    assert list((home / "artifacts").rglob("MLmodel"))
    assert not (registry.cwd / "mlruns").exists()
    assert not Path("mlruns").exists()
    assert ensure_experiment(registry.settings, client) == experiment.experiment_id
    assert "MLFLOW_TRACKING_URI" not in os.environ  # connect() leaves no env behind


def test_admin_promote_errors(client: MlflowClient) -> None:
    with pytest.raises(errors.ModelNotAvailable, match="no-such-model"):
        promote(client, "no-such-model", "1", "production")
    with pytest.raises(errors.ModelNotAvailable, match="version 42"):
        promote(client, "iris-clf", "42", "production")
    with pytest.raises(errors.BadRequest, match="reserved"):
        promote(client, "iris-clf", "1", "v2")
    with pytest.raises(errors.BadRequest, match="alias"):
        promote(client, "iris-clf", "1", "bad alias")
    with pytest.raises(errors.ModelNotAvailable, match="no alias"):
        delete_alias(client, "iris-clf", "never-set")


def test_list_and_format_models(client: MlflowClient) -> None:
    promote(client, "iris-clf", "1", "champion")
    models = {m.name: m for m in list_models(client)}
    iris = models["iris-clf"]
    assert iris.latest_version == "1" and iris.versions == ["1"]
    assert iris.aliases == {"champion": "1", "production": "1"}
    table = format_models(list(models.values()))
    assert table.splitlines()[0].split() == ["NAME", "LATEST", "VERSIONS", "ALIASES"]
    assert "@production=1" in table and "@champion=1" in table
    assert format_models([]) == "no registered models"

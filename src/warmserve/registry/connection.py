"""Point MLflow at the configured registry and translate its errors into ours.

Everything in ``registry/`` goes through :func:`connect` so the embedded default
(a SQLite file plus an artifact folder under ``WARMSERVE_HOME``) and a remote
MLflow server are handled in one place.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import mlflow
import requests
from mlflow import MlflowClient
from mlflow.entities import LifecycleStage
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    ErrorCode,
)
from sqlalchemy.exc import SQLAlchemyError

from warmserve import errors
from warmserve.redaction import redact
from warmserve.settings import Settings

DEFAULT_EXPERIMENT = "warmserve"
_URI_ENV_VARS = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")

_NOT_FOUND = ErrorCode.Name(RESOURCE_DOES_NOT_EXIST)
_ALREADY_EXISTS = ErrorCode.Name(RESOURCE_ALREADY_EXISTS)
_INVALID = ErrorCode.Name(INVALID_PARAMETER_VALUE)


def connect(settings: Settings) -> MlflowClient:
    """Aim mlflow's global URIs and a client at the configured registry.

    The fluent API (``mlflow.start_run``, ``log_model`` with registration) reads
    the global URIs, so they are set here too. No network call: a remote server
    is first contacted on the first request (a SQLite file gets its schema now).
    """
    uri = settings.resolved_tracking_uri()
    if settings.tracking_uri is None:
        settings.home.resolve().mkdir(parents=True, exist_ok=True)
    # mlflow.set_tracking_uri() also exports MLFLOW_TRACKING_URI/MLFLOW_REGISTRY_URI
    # into os.environ. Settings reads MLFLOW_TRACKING_URI, so leaving them there
    # would make every later Settings() -- in this process and in the children we
    # spawn -- look like an explicit remote choice and point at this database.
    saved = {key: os.environ.get(key) for key in _URI_ENV_VARS}
    try:
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def is_embedded(settings: Settings) -> bool:
    """True when the registry is a local SQLite file rather than an MLflow server.

    A local store has no server to choose where artifacts go; MLflow would put
    them in ``./mlruns`` of the current directory, so we pin them under home.
    """
    return settings.tracking_uri is None or settings.tracking_uri.startswith("sqlite:")


def ensure_experiment(
    settings: Settings, client: MlflowClient, name: str = DEFAULT_EXPERIMENT
) -> str:
    """Return the id of experiment ``name``, creating (or restoring) it if needed.

    For the embedded default (and any SQLite URI) the artifact location is
    pinned under ``WARMSERVE_HOME``: MLflow would otherwise default to
    ``./mlruns`` of whatever directory the process happens to run in. A remote
    server decides for itself.
    """
    with registry_errors(f"experiment {name!r}"):
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            if experiment.lifecycle_stage == LifecycleStage.DELETED:
                client.restore_experiment(experiment.experiment_id)
            return str(experiment.experiment_id)
        location = None
        if is_embedded(settings):
            root = settings.artifact_root()
            root.mkdir(parents=True, exist_ok=True)
            location = root.as_uri()
        try:
            return str(client.create_experiment(name, artifact_location=location))
        except MlflowException as exc:
            # Another process created it between our lookup and create: use theirs.
            if exc.error_code != _ALREADY_EXISTS:
                raise
            again = client.get_experiment_by_name(name)
            if again is None:
                raise
            return str(again.experiment_id)


@contextmanager
def registry_errors(what: str) -> Iterator[None]:
    """Turn MLflow/transport failures into domain errors naming ``what``.

    Their messages are redacted: MLflow and requests quote the URL they called,
    password included, and these messages reach logs and API answers.

    "Does not exist" becomes :class:`errors.ModelNotAvailable` (the server stays up
    and keeps polling); anything else -- registry down, timeouts, database
    trouble -- becomes :class:`errors.RegistryError`. No raw MlflowException
    escapes the registry package.
    """
    try:
        yield
    except errors.WarmserveError:
        raise
    except MlflowException as exc:
        if _is_missing(exc):
            raise errors.ModelNotAvailable(f"{what} does not exist: {_short(exc)}") from exc
        raise errors.RegistryError(f"registry error for {what}: {_short(exc)}") from exc
    except (requests.RequestException, SQLAlchemyError, OSError) as exc:
        raise errors.RegistryError(
            redact(f"registry unreachable for {what}: {type(exc).__name__}: {exc}")
        ) from exc


def _is_missing(exc: MlflowException) -> bool:
    # MLflow reports an unknown alias as INVALID_PARAMETER_VALUE ("Registered model
    # alias X not found."), not RESOURCE_DOES_NOT_EXIST; alias syntax is checked
    # before we ask, so "invalid + not found" here means missing.
    if exc.error_code == _NOT_FOUND:
        return True
    return exc.error_code == _INVALID and "not found" in exc.message.lower()


def _short(exc: MlflowException) -> str:
    """MLflow messages can embed whole HTTP bodies and the URL called; keep logs
    readable and credentials out (redacted before cutting, so no half URL escapes)."""
    text = redact(exc.message.strip())
    return text if len(text) <= 500 else text[:500] + "..."

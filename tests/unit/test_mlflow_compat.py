"""The private MLflow names warmserve relies on, and the MLflow facts it mirrors without
importing MLflow (the HTTP workers never do)."""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import BAD_REQUEST, INVALID_PARAMETER_VALUE

from warmserve import errors
from warmserve.runtime import mlflow_compat


@pytest.mark.parametrize(("module", "attribute"), mlflow_compat.REQUIRED)
def test_every_private_mlflow_name_still_exists(module: str, attribute: str) -> None:
    assert mlflow_compat.resolve(module, attribute) is not None, f"{module}.{attribute}"


@pytest.mark.parametrize(
    ("cls", "code"),
    [(errors.BadRequest, BAD_REQUEST), (errors.InvalidParameterValue, INVALID_PARAMETER_VALUE)],
)
def test_our_400s_carry_the_classification_mlflow_gives_their_code(
    cls: type[errors.WarmserveError], code: int
) -> None:
    theirs = MlflowException("x", error_code=code)
    ours = cls("x")
    assert ours.error_code == theirs.error_code
    assert ours.status == theirs.get_http_status_code()
    assert ours.error_class == getattr(theirs, "error_class", ours.error_class)
    assert ours.sqlstate == getattr(theirs, "sqlstate", ours.sqlstate)

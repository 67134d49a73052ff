"""Every private MLflow name warmserve relies on still exists: an MLflow upgrade that
drops one fails here, naming it, instead of in production."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import BAD_REQUEST, INVALID_PARAMETER_VALUE

from warmserve import errors
from warmserve.runtime import mlflow_compat


@pytest.mark.parametrize(
    ("module", "attribute"),
    mlflow_compat.REQUIRED,
    ids=[".".join(r) for r in mlflow_compat.REQUIRED],
)
def test_every_required_private_name_resolves(module: str, attribute: str) -> None:
    try:
        mlflow_compat.resolve(module, attribute)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"MLflow no longer has {module}.{attribute}: {exc}")


def test_a_missing_name_is_named_in_the_failure() -> None:
    with pytest.raises(AttributeError, match="no_such_function"):
        mlflow_compat.resolve("mlflow.pyfunc.scoring_server", "no_such_function")
    with pytest.raises(AttributeError, match="_gone"):
        mlflow_compat.resolve("mlflow.models", "Model._gone")


@pytest.fixture(scope="module")
def pyfunc(numeric_model_dir: Path) -> Any:
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(str(numeric_model_dir))


def test_a_loaded_sklearn_model_exposes_its_flavors_predict(pyfunc: Any) -> None:
    predict = mlflow_compat.flavor_predict_fn(pyfunc)
    assert predict is not None
    frame = pd.DataFrame(np.zeros((2, 20)), columns=[f"f{i}" for i in range(20)])
    assert list(predict(frame)) == list(pyfunc.predict(frame))
    assert mlflow_compat.flavor_predict_fn(object()) is None


def test_a_signature_inferred_from_data_is_not_from_type_hints(pyfunc: Any) -> None:
    assert not mlflow_compat.signature_from_type_hints(pyfunc.metadata)
    assert mlflow_compat.signature_from_type_hints(object())  # unknown: never a fast path


def test_the_scoring_servers_parsing_and_encoding(pyfunc: Any) -> None:
    schema = pyfunc.metadata.get_input_schema()
    columns = [f"f{i}" for i in range(20)]
    split = {"dataframe_split": {"columns": columns, "data": [[0.5] * 20]}}
    frame = mlflow_compat.infer_and_parse_data(split, schema)
    assert list(frame.columns) == columns and frame.shape == (1, 20)
    csv = mlflow_compat.parse_csv_input(",".join(columns) + "\n" + ",".join(["1.5"] * 20), schema)
    assert csv.shape == (1, 20) and csv.iloc[0, 0] == 1.5
    assert mlflow_compat.jsonable(np.array([1, 2])) == [1, 2]
    assert mlflow_compat.jsonable(pd.DataFrame({"y": [1.0]})) == [{"y": 1.0}]


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

"""Errors cross the IPC boundary with MLflow's code, status and classification."""

from __future__ import annotations

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, RESOURCE_EXHAUSTED

from warmserve import errors
from warmserve.runtime.mlflow_errors import from_mlflow, prediction_error


def round_trip(error: errors.WarmserveError) -> errors.WarmserveError:
    return errors.from_code(error.error_code, error.message, "7", error.wire_detail())


def test_an_mlflow_exception_keeps_its_code_status_and_classification() -> None:
    raised = MlflowException("quota used up", error_code=RESOURCE_EXHAUSTED)
    error = round_trip(from_mlflow(raised))
    assert (error.status, error.error_code, error.version) == (429, "RESOURCE_EXHAUSTED", "7")
    assert error.to_dict() == raised_body(raised)


def test_internal_error_from_the_model_is_a_500_with_mlflows_fields() -> None:
    raised = MlflowException("bad state", error_code=INTERNAL_ERROR)
    error = round_trip(from_mlflow(raised))
    assert error.status == 500
    assert error.to_dict() == raised_body(raised)


def raised_body(raised: MlflowException) -> dict[str, str]:
    import json

    return dict(json.loads(raised.serialize_as_json()))


def test_a_plain_exception_is_mlflows_400_and_its_text_only_in_the_stack_trace() -> None:
    try:
        raise ValueError("secret /srv/path")
    except ValueError as exc:
        error = round_trip(prediction_error(exc))
    assert (error.status, error.error_code) == (400, "BAD_REQUEST")
    assert "secret" not in error.message
    assert "stack_trace" not in error.to_dict()
    assert "ValueError: secret /srv/path" in error.to_dict(stack_trace=True)["stack_trace"]


def test_known_codes_come_back_as_their_class_and_unknown_ones_keep_their_status() -> None:
    assert isinstance(round_trip(errors.DeadlineExceeded("late")), errors.DeadlineExceeded)
    odd = errors.from_code("RESOURCE_CONFLICT", "x", detail={"status": 409})
    assert (odd.status, odd.error_code) == (409, "RESOURCE_CONFLICT")
    unknown = errors.from_code("SOMETHING", "x")
    assert (unknown.status, unknown.error_code) == (500, "INTERNAL_ERROR")

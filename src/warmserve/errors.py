"""One error tree. Each error knows its HTTP status and error code.

The HTTP layer has a single handler that turns any ``WarmserveError`` into
``{"error_code": ..., "message": ...}`` (plus MLflow's ``sqlstate`` and
``error_class`` where MLflow's scoring server sends them); nothing else decides
a status.
"""

from __future__ import annotations

from typing import Any


class WarmserveError(Exception):
    status: int = 500
    error_code: str = "INTERNAL_ERROR"
    # MLflow's finer classification of an error (MLflow >= 3.x sends both with every
    # MlflowException); None where MLflow's scoring server sends none.
    error_class: str | None = None
    sqlstate: str | None = None

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        version: str | None = None,
        stack_trace: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.version = version  # the model version that answered, when one did
        self.stack_trace = stack_trace  # only answered with expose_stack_traces

    def to_dict(self, *, stack_trace: bool = False) -> dict[str, str]:
        """The JSON error body, keys in the order MLflow's scoring server writes them."""
        body = {"error_code": self.error_code, "message": self.message}
        if self.sqlstate is not None:
            body["sqlstate"] = self.sqlstate
        if self.error_class is not None:
            body["error_class"] = self.error_class
        if stack_trace and self.stack_trace:
            body["stack_trace"] = self.stack_trace
        return body

    def wire_detail(self) -> dict[str, Any]:
        """What crosses the IPC boundary besides code and message (see ``from_code``)."""
        return {
            "status": self.status,
            "error_class": self.error_class,
            "sqlstate": self.sqlstate,
            "stack_trace": self.stack_trace,
        }


# MLflow classifies BAD_REQUEST and INVALID_PARAMETER_VALUE alike (a test compares these
# with what the installed MLflow derives).
MLFLOW_INVALID_PARAMETER = {"error_class": "INVALID_PARAMETER_VALUE", "sqlstate": "KAM00"}


class BadRequest(WarmserveError):
    status = 400
    error_code = "BAD_REQUEST"
    error_class = MLFLOW_INVALID_PARAMETER["error_class"]
    sqlstate = MLFLOW_INVALID_PARAMETER["sqlstate"]


class InvalidParameterValue(BadRequest):
    """MLflow's code for input that parses but does not fit the model (its signature,
    its params schema, its type hints)."""

    error_code = "INVALID_PARAMETER_VALUE"


class PredictionFailed(BadRequest):
    """The model raised an exception of its own while predicting. MLflow's scoring server
    answers 400 ``BAD_REQUEST`` with a fixed message; the exception is in the stack trace."""

    MESSAGE = (
        "Encountered an unexpected error while evaluating the model. Verify that the "
        "serialized input Dataframe is compatible with the model for inference."
    )


class PayloadTooLarge(WarmserveError):
    status = 413
    error_code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(WarmserveError):
    status = 415
    error_code = "UNSUPPORTED_MEDIA_TYPE"


class Unauthorized(WarmserveError):
    status = 401
    error_code = "UNAUTHORIZED"


class RequestTimeout(WarmserveError):
    """The request head or body did not arrive in time (slow or stalled client)."""

    status = 408
    error_code = "REQUEST_TIMEOUT"


class HeadersTooLarge(WarmserveError):
    status = 431
    error_code = "HEADERS_TOO_LARGE"


class NotFound(WarmserveError):
    status = 404
    error_code = "NOT_FOUND"


class MethodNotAllowed(WarmserveError):
    status = 405
    error_code = "METHOD_NOT_ALLOWED"


class InternalError(WarmserveError):
    """The server could not answer although the request was fine to its knowledge (a
    model output that cannot be encoded as JSON: MLflow's server answers 500 there too)."""


class ModelNotAvailable(WarmserveError):
    """No model is loaded yet (or the runner is being replaced)."""

    status = 503
    error_code = "MODEL_NOT_AVAILABLE"


class RunnerUnavailable(WarmserveError):
    """The model process died or went away while the request was in flight."""

    status = 503
    error_code = "RUNNER_UNAVAILABLE"


class ShuttingDown(WarmserveError):
    status = 503
    error_code = "SHUTTING_DOWN"


class DeadlineExceeded(WarmserveError):
    status = 504
    error_code = "DEADLINE_EXCEEDED"


class RegistryError(WarmserveError):
    """The model source cannot be resolved or loaded (registry down, no such model...)."""

    status = 503
    error_code = "REGISTRY_ERROR"


class ModelLoadError(WarmserveError):
    status = 503
    error_code = "MODEL_LOAD_FAILED"


class MlflowError(WarmserveError):
    """An error exactly as MLflow reports it: an ``MlflowException`` raised by the model
    or by MLflow's own checks keeps its code and the status MLflow gives that code."""

    def __init__(self, error_code: str, status: int, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.error_code = error_code
        self.status = status


# Error codes that may cross the IPC boundary, mapped back to their class.
BY_CODE: dict[str, type[WarmserveError]] = {
    cls.error_code: cls
    for cls in (
        BadRequest,
        InvalidParameterValue,
        PayloadTooLarge,
        UnsupportedMediaType,
        Unauthorized,
        RequestTimeout,
        HeadersTooLarge,
        NotFound,
        MethodNotAllowed,
        InternalError,
        ModelNotAvailable,
        RunnerUnavailable,
        ShuttingDown,
        DeadlineExceeded,
        RegistryError,
        ModelLoadError,
    )
}


def from_code(
    code: str, message: str, version: str | None = None, detail: dict[str, Any] | None = None
) -> WarmserveError:
    """Rebuild a domain error from its wire form. ``detail`` (from ``wire_detail``) carries
    the status and MLflow's classification; a code we do not know keeps that status."""
    detail = detail or {}
    status = detail.get("status")
    cls = BY_CODE.get(code)
    trace = detail.get("stack_trace")
    error: WarmserveError
    if cls is not None and (status is None or status == cls.status):
        error = cls(message, version=version, stack_trace=trace)
    elif isinstance(status, int) and 400 <= status <= 599:
        error = MlflowError(code, status, message, version=version, stack_trace=trace)
    else:
        error = WarmserveError(message, version=version, stack_trace=trace)
    for key in ("error_class", "sqlstate"):
        if key in detail:
            setattr(error, key, detail[key])
    return error

"""One error tree. Each error knows its HTTP status and error code.

The HTTP layer has a single handler that turns any ``WarmserveError`` into
``{"error_code": ..., "message": ...}``; nothing else decides a status.
"""

from __future__ import annotations


class WarmserveError(Exception):
    status: int = 500
    error_code: str = "INTERNAL_ERROR"

    def __init__(
        self, message: str, *, retry_after: float | None = None, version: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.version = version  # the model version that answered, when one did

    def to_dict(self) -> dict[str, str]:
        return {"error_code": self.error_code, "message": self.message}


class BadRequest(WarmserveError):
    status = 400
    error_code = "BAD_REQUEST"


class SchemaError(BadRequest):
    """Input does not match the model signature."""


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


class PredictionFailed(WarmserveError):
    """The model raised while predicting on input that passed parsing."""

    status = 422
    error_code = "PREDICTION_FAILED"


class RegistryError(WarmserveError):
    """The model source cannot be resolved or loaded (registry down, no such model...)."""

    status = 503
    error_code = "REGISTRY_ERROR"


class ModelLoadError(WarmserveError):
    status = 503
    error_code = "MODEL_LOAD_FAILED"


# Error codes that may cross the IPC boundary, mapped back to their class.
BY_CODE: dict[str, type[WarmserveError]] = {
    cls.error_code: cls
    for cls in (
        BadRequest,
        PayloadTooLarge,
        UnsupportedMediaType,
        Unauthorized,
        RequestTimeout,
        HeadersTooLarge,
        NotFound,
        MethodNotAllowed,
        ModelNotAvailable,
        RunnerUnavailable,
        ShuttingDown,
        DeadlineExceeded,
        PredictionFailed,
        RegistryError,
        ModelLoadError,
    )
}


def from_code(code: str, message: str, version: str | None = None) -> WarmserveError:
    """Rebuild a domain error from its wire form (unknown codes become 500s)."""
    cls = BY_CODE.get(code, WarmserveError)
    return cls(message, version=version)

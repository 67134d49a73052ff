"""Errors as MLflow's scoring server reports them.

`mlflow models serve` answers an ``MlflowException`` with its own error code, the
HTTP status MLflow gives that code and MLflow's classification (``error_class``,
``sqlstate``); any other exception raised by the model is 400 ``BAD_REQUEST``
with a fixed message, the exception itself only in the stack trace. Clients
branch on these, so the model process converts every failure here, from
MLflow's own exception objects, and the codes a client sees are MLflow's.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from warmserve import errors
from warmserve.errors import BadRequest, PredictionFailed, WarmserveError

log = logging.getLogger("warmserve.runner")


def is_mlflow_exception(exc: BaseException) -> bool:
    from mlflow.exceptions import MlflowException

    return isinstance(exc, MlflowException)


def from_mlflow(exc: Any, message: str | None = None) -> WarmserveError:
    """The domain error of an ``MlflowException``: its code, status and classification."""
    detail = {
        "status": int(exc.get_http_status_code()),
        "error_class": getattr(exc, "error_class", None),
        "sqlstate": getattr(exc, "sqlstate", None),
        "stack_trace": (getattr(exc, "json_kwargs", None) or {}).get("stack_trace"),
    }
    return errors.from_code(str(exc.error_code), message or str(exc.message), detail=detail)


def input_error(exc: Exception, form: str) -> WarmserveError:
    """A failure while building the model input from the request.

    MLflow answers its own parsing errors (400); an exception from pandas or numpy
    that MLflow does not catch is a 500 there, a 400 here: the input is at fault.
    """
    if isinstance(exc, WarmserveError):
        return exc
    if is_mlflow_exception(exc):
        return from_mlflow(exc)
    return BadRequest(
        f"cannot build the model input from {form!r}: {type(exc).__name__}: {exc}",
        stack_trace=stack_trace(exc),
    )


def prediction_error(exc: Exception) -> WarmserveError:
    """A failure of the model's predict, as MLflow's scoring server answers it.

    The message of an exception that is not an ``MlflowException`` is not answered
    (MLflow's rule: such text may be sensitive); it is in the stack trace, which is
    logged at debug level and answered only with ``expose_stack_traces``.
    """
    if isinstance(exc, WarmserveError):
        return exc
    if is_mlflow_exception(exc):
        return from_mlflow(exc, f"Failed to predict. Error: {getattr(exc, 'message', exc)}")
    log.debug("the model raised", exc_info=exc)
    return PredictionFailed(PredictionFailed.MESSAGE, stack_trace=stack_trace(exc))


def stack_trace(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))

"""The predictor interface and what a strategy sees of a freshly loaded model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from warmserve.protocol import InputForm


class Predictor(Protocol):
    """Predicts one (possibly merged) request body; returns the model's raw output."""

    name: str

    def predict(self, form: InputForm, data: Any, params: dict[str, Any] | None) -> Any: ...

    def detail(self) -> dict[str, Any]:
        """JSON-able facts shown at /model (backend, verification, threads...)."""
        ...


class Declined(Exception):
    """A strategy does not apply to this model; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ModelContext:
    """A loaded MLflow pyfunc model and the facts strategies decide on."""

    pyfunc: Any  # mlflow.pyfunc.PyFuncModel
    input_schema: Any  # mlflow.types.Schema | None
    input_example: Any  # the logged input example (a DataFrame, dict, list...) or None
    compiled_models: bool = True  # the setting that allows compiled trees and linear models
    max_rows: int = 1_000_000  # the max_rows setting, for inputs only the model process can count


@dataclass(frozen=True)
class Strategy:
    """``build`` returns a predictor for the model or raises :class:`Declined`.

    ``fallback`` is the predictor of the next strategy down, for inputs a
    specific predictor does not handle itself.
    """

    name: str
    build: Callable[[ModelContext, Predictor], Predictor]

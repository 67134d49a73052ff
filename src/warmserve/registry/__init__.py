"""MLflow access: connect, resolve a source to a pinned version, train, administer.

Nothing here knows about HTTP; errors are raised as ``warmserve.errors`` types.
The training names are imported lazily: scikit-learn's estimators cost a second
or two of import time the model process does not need just to resolve sources.
"""

from typing import TYPE_CHECKING, Any

from warmserve.registry.admin import (
    RegisteredModelInfo,
    delete_alias,
    format_models,
    list_models,
    promote,
)
from warmserve.registry.connection import connect, ensure_experiment
from warmserve.registry.source import ModelVersion, ParsedSource, parse_source, resolve

if TYPE_CHECKING:
    from warmserve.registry.training import (
        BUILTIN_DATASETS,
        ESTIMATORS,
        TrainResult,
        train_and_register,
        train_synthetic,
    )

_TRAINING = {
    "BUILTIN_DATASETS",
    "ESTIMATORS",
    "TrainResult",
    "train_and_register",
    "train_synthetic",
}

__all__ = [
    "BUILTIN_DATASETS",
    "ESTIMATORS",
    "ModelVersion",
    "ParsedSource",
    "RegisteredModelInfo",
    "TrainResult",
    "connect",
    "delete_alias",
    "ensure_experiment",
    "format_models",
    "list_models",
    "parse_source",
    "promote",
    "resolve",
    "train_and_register",
    "train_synthetic",
]


def __getattr__(name: str) -> Any:
    if name in _TRAINING:
        from warmserve.registry import training

        return getattr(training, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""MLflow access: connect, resolve a source to a pinned version, promote, list.

Nothing here knows about HTTP or training; errors are raised as ``warmserve.errors``
types. Training lives in ``warmserve.training``.
"""

from warmserve.registry.admin import (
    RegisteredModelInfo,
    delete_alias,
    format_models,
    list_models,
    promote,
)
from warmserve.registry.connection import connect, ensure_experiment
from warmserve.registry.source import ModelVersion, ParsedSource, parse_source, resolve

__all__ = [
    "ModelVersion",
    "ParsedSource",
    "RegisteredModelInfo",
    "connect",
    "delete_alias",
    "ensure_experiment",
    "format_models",
    "list_models",
    "parse_source",
    "promote",
    "resolve",
]

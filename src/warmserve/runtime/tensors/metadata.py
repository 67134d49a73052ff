"""A version's tensor metadata, decided once at load from its MLflow signature.

Column signatures give one ``[-1, 1]`` tensor per column, typed by the MLflow type
(boolean BOOL, integer INT32, long INT64, float FP32, double FP64, string, binary and
datetime BYTES); array columns ``[-1, -1]`` of their element type. Tensor signatures
keep their dtype and shape. Outputs without a signature are described from the warm-up
prediction, so the metadata names what the model really answers.
"""

from __future__ import annotations

import logging
from typing import Any

from mlflow.types import DataType
from mlflow.types.schema import Array

from warmserve.protocol import BYTES, TensorMetadata
from warmserve.runtime.tensors.named import (
    COLUMN_SHAPE,
    UNNAMED_OUTPUT,
    describe,
    entry_name,
    named_arrays,
)
from warmserve.runtime.tensors.wire import datatype_of

log = logging.getLogger("warmserve.runtime")

UNNAMED_INPUT = "inputs"
MLFLOW_DATATYPES = {
    "boolean": "BOOL",
    "integer": "INT32",
    "long": "INT64",
    "float": "FP32",
    "double": "FP64",
    "string": BYTES,
    "binary": BYTES,
    "datetime": BYTES,
}


def type_name(column_type: Any) -> str | None:
    """The MLflow name of a primitive column type ("double"...), None for complex ones."""
    return column_type.name if isinstance(column_type, DataType) else None


def column_tensor(column_type: Any) -> tuple[str, list[int]]:
    """(datatype, shape) of a column of ``column_type``."""
    name = type_name(column_type)
    if name is not None:
        return MLFLOW_DATATYPES.get(name, BYTES), list(COLUMN_SHAPE)
    if isinstance(column_type, Array) and type_name(column_type.dtype) is not None:
        return MLFLOW_DATATYPES.get(str(type_name(column_type.dtype)), BYTES), [-1, -1]
    return BYTES, list(COLUMN_SHAPE)  # objects, maps, any: not a tensor of their own


def entry_names(schema: Any, unnamed: str) -> list[str]:
    entries = schema.inputs
    return [entry_name(e.name, i, len(entries), unnamed) for i, e in enumerate(entries)]


def describe_schema(schema: Any, unnamed: str) -> list[dict[str, Any]]:
    names = entry_names(schema, unnamed)
    if schema.is_tensor_spec():
        return [
            {"name": name, "datatype": datatype_of(spec.type), "shape": list(spec.shape)}
            for name, spec in zip(names, schema.inputs, strict=True)
        ]
    specs = []
    for name, column in zip(names, schema.inputs, strict=True):
        datatype, shape = column_tensor(column.type)
        specs.append({"name": name, "datatype": datatype, "shape": shape})
    return specs


def describe_model(input_schema: Any, output_schema: Any, warm_output: Any) -> TensorMetadata:
    """Never raises: a part that cannot be described is empty (and logged)."""
    inputs: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    try:
        if input_schema is not None:
            inputs = describe_schema(input_schema, UNNAMED_INPUT)
    except Exception as exc:
        log.warning("the inputs have no tensor description: %r", exc)
    try:
        if output_schema is not None:
            outputs = describe_schema(output_schema, UNNAMED_OUTPUT)
        elif warm_output is not None:
            outputs = describe(named_arrays(warm_output))
    except Exception as exc:
        log.warning("the outputs have no tensor description: %r", exc)
    return TensorMetadata(inputs, outputs)

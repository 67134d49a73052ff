"""What the OpenAPI document says of the v2 infer route.

The request schema is the served model's own tensors (names, datatypes, shapes with one
row), so a request the schema admits is one the server reads: "Try it out" and
schemathesis send requests that reach the model. The binary tensor extension is
described in words: any bytes are a valid ``application/octet-stream`` body, but only
those with the right ``Inference-Header-Content-Length`` are a request.
"""

from __future__ import annotations

from math import prod
from typing import Any

from warmserve.http.v2.tensors import DATATYPES
from warmserve.protocol import BYTES, ServedModel

_BOUNDS = {
    "INT8": 2**7, "INT16": 2**15, "INT32": 2**31, "INT64": 2**63,
    "UINT8": 2**8, "UINT16": 2**16, "UINT32": 2**32, "UINT64": 2**64,
}  # fmt: skip
_FLOAT_MAX = {"FP16": 65504.0, "FP32": 3.4e38}
_DEFAULTS: dict[str, Any] = {"BOOL": False, BYTES: "text"}


def value_schema(datatype: str) -> dict[str, Any]:
    """JSON values the decoder packs into ``datatype`` without refusing them."""
    if datatype == "BOOL":
        return {"type": "boolean"}
    if datatype == BYTES:
        return {"type": "string"}
    if datatype in _BOUNDS:
        bound = _BOUNDS[datatype]
        low = 0 if datatype.startswith("U") else -bound
        return {"type": "integer", "minimum": low, "maximum": bound - 1}
    top = _FLOAT_MAX.get(datatype)
    return (
        {"type": "number"} if top is None else {"type": "number", "minimum": -top, "maximum": top}
    )


def _tensor(name: Any, datatype: str, shape: list[int]) -> dict[str, Any]:
    count = prod(shape)
    return {
        "type": "object",
        "properties": {
            "name": name,
            "datatype": {"const": datatype},
            "shape": {"const": shape},
            "data": {
                "type": "array",
                "items": value_schema(datatype),
                "minItems": count,
                "maxItems": count,
            },
        },
        "required": ["name", "datatype", "shape", "data"],
        "additionalProperties": False,
    }


def _one_row(shape: list[int]) -> list[int]:
    return [1 if dim < 0 else dim for dim in shape]


def _inputs(served: ServedModel | None) -> dict[str, Any]:
    specs = served.tensors.inputs if served is not None and served.tensors else []
    if not specs:
        variants = [_tensor({"type": "string", "minLength": 1}, d, [1]) for d in DATATYPES]
        return {"type": "array", "items": {"oneOf": variants}, "minItems": 1, "maxItems": 1}
    tensors = [_tensor({"const": s["name"]}, s["datatype"], _one_row(s["shape"])) for s in specs]
    return {
        "type": "array",
        "prefixItems": tensors,
        "items": False,
        "minItems": len(tensors),
        "maxItems": len(tensors),
    }


def _outputs(served: ServedModel | None) -> dict[str, Any]:
    names = [s["name"] for s in (served.tensors.outputs if served and served.tensors else [])]
    binary = {"binary_data": {"type": "boolean"}}
    item = {
        "type": "object",
        "properties": {
            "name": {"enum": names} if names else {"type": "string", "minLength": 1},
            "parameters": {"type": "object", "properties": binary, "additionalProperties": False},
        },
        "required": ["name"],
        "additionalProperties": False,
    }
    return {"type": "array", "items": item, "maxItems": 1}


def request_schema(served: ServedModel | None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "parameters": {
                "type": "object",
                "description": "binary_data_output asks for binary outputs; others are the "
                "model's params",
                "properties": {"binary_data_output": {"type": "boolean"}},
                "additionalProperties": {"type": ["string", "number", "boolean"]},
            },
            "inputs": _inputs(served),
            "outputs": _outputs(served),
        },
        "required": ["inputs"],
    }


def example(served: ServedModel | None) -> dict[str, Any]:
    specs = served.tensors.inputs if served is not None and served.tensors else []
    if not specs:
        return {"inputs": [{"name": "x", "datatype": "FP64", "shape": [1], "data": [1.0]}]}
    row = _example_row(served)
    inputs = []
    for spec in specs:
        shape = _one_row(spec["shape"])
        value = row.get(spec["name"], _DEFAULTS.get(spec["datatype"], 0))
        if not _fits(value, spec["datatype"]):
            value = _DEFAULTS.get(spec["datatype"], 0)
        inputs.append({**spec, "shape": shape, "data": [value] * prod(shape)})
    return {"inputs": inputs}


def _example_row(served: ServedModel | None) -> dict[str, Any]:
    body = served.input_example if served is not None else None
    split = body.get("dataframe_split") if isinstance(body, dict) else None
    if not isinstance(split, dict) or not split.get("data") or not split.get("columns"):
        return {}
    return dict(zip(split["columns"], split["data"][0], strict=False))


def _fits(value: Any, datatype: str) -> bool:
    if datatype == "BOOL":
        return isinstance(value, bool)
    if datatype == BYTES:
        return isinstance(value, str)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return datatype.startswith("FP") or isinstance(value, int)


def infer_request_content(served: ServedModel | None) -> dict[str, Any]:
    return {"application/json": {"schema": request_schema(served), "example": example(served)}}


def _answer_tensor() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "datatype": {"enum": list(DATATYPES)},
            "shape": {"type": "array", "items": {"type": "integer"}},
            "data": {"type": "array"},
            "parameters": {"type": "object"},
        },
        "required": ["name", "datatype", "shape"],
    }


def infer_answer_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "outputs": {"type": "array", "items": _answer_tensor()},
        },
        "required": ["model_name", "model_version", "outputs"],
    }

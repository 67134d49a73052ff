"""Reading a v2 inference request: a JSON object, or the binary tensor extension.

With an ``Inference-Header-Content-Length`` header, that many bytes of JSON come first,
followed by the raw tensors of the inputs whose parameters give a ``binary_data_size``,
in input order; without it the body is JSON whatever its Content-Type says (the Python
tritonclient sends none). Every input becomes ``[name, datatype, shape, raw]`` in the v2
binary form, the one form the model process reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any

from warmserve.errors import BadRequest
from warmserve.http.codecs import parse_json
from warmserve.http.limits import InputLimits, check_columns, check_depth, check_rows
from warmserve.http.v2.tensors import DATATYPES, flatten, item_size, pack
from warmserve.protocol import BYTES, bytes_elements

HEADER_LENGTH = "inference-header-content-length"
# Request parameters that steer the protocol or Triton's scheduler, not the model.
RESERVED = frozenset(
    {"binary_data_output", "sequence_id", "sequence_start", "sequence_end", "priority", "timeout"}
)


@dataclass(frozen=True, slots=True)
class Requested:
    """An output the client asked for; ``binary`` None: as ``binary_data_output`` says."""

    name: str
    binary: bool | None = None


@dataclass(frozen=True, slots=True)
class InferRequest:
    id: str | None
    inputs: list[list[Any]]  # [name, datatype, shape, raw]
    params: dict[str, Any] | None  # request parameters for the model (reserved ones removed)
    outputs: tuple[Requested, ...] | None  # None: every output of the model
    binary_output: bool  # binary_data_output: the default for outputs

    @property
    def wants_binary(self) -> bool:
        if self.outputs is None:
            return self.binary_output
        return any(self.binary_output if out.binary is None else out.binary for out in self.outputs)


def decode_infer(body: bytes, header_length: str | None, limits: InputLimits) -> InferRequest:
    document, tail = _split(body, header_length)
    check_depth(document, limits)
    if not isinstance(document, dict):
        raise BadRequest("an inference request is a JSON object with inputs")
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequest("id must be a string")
    parameters = _object(document.get("parameters"), "parameters")
    binary_output = parameters.get("binary_data_output", False)
    if not isinstance(binary_output, bool):
        raise BadRequest("parameters.binary_data_output must be true or false")
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise BadRequest("inputs must be a non-empty list of tensors")
    check_columns(len(inputs), "inputs", limits)
    tensors: list[list[Any]] = []
    names: set[str] = set()
    offset = 0
    for index, item in enumerate(inputs):
        tensor, used = _input(item, index, tail, offset, header_length is not None, limits)
        if tensor[0] in names:
            raise BadRequest(f"input {tensor[0]!r} is given twice")
        names.add(tensor[0])
        tensors.append(tensor)
        offset += used
    if offset != len(tail):
        raise BadRequest(
            f"the body has {len(tail)} bytes after the JSON header; the inputs' "
            f"binary_data_size add up to {offset}"
        )
    params = {key: value for key, value in parameters.items() if key not in RESERVED}
    return InferRequest(
        request_id, tensors, params or None, _outputs(document.get("outputs")), binary_output
    )


def _split(body: bytes, header_length: str | None) -> tuple[Any, bytes]:
    if header_length is None:
        return parse_json(body)[0], b""
    value = header_length.strip()
    size = int(value) if value.isascii() and value.isdigit() and len(value) < 20 else -1
    if size < 0:
        raise BadRequest("Inference-Header-Content-Length must be the byte count of the JSON")
    if size > len(body):
        raise BadRequest(
            f"Inference-Header-Content-Length is {size} but the body has {len(body)} bytes"
        )
    return parse_json(body[:size])[0], body[size:]


def _object(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"{where} must be an object")
    return value


def _shape(value: Any, name: str) -> list[int]:
    if (
        not isinstance(value, list)
        or not value
        or not all(type(dim) is int and dim >= 0 for dim in value)
    ):
        raise BadRequest(f"input {name!r}: shape must be a list of sizes, e.g. [2, 3]")
    return value


def _input(
    item: Any, index: int, tail: bytes, offset: int, binary: bool, limits: InputLimits
) -> tuple[list[Any], int]:
    """One input as [name, datatype, shape, raw], and the bytes of the tail it took."""
    if not isinstance(item, dict):
        raise BadRequest(f"inputs[{index}] must be an object")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise BadRequest(f"inputs[{index}] needs a name")
    datatype = item.get("datatype")
    if datatype not in DATATYPES:
        raise BadRequest(
            f"input {name!r}: datatype {datatype!r} is not one of {', '.join(DATATYPES)}"
        )
    shape = _shape(item.get("shape"), name)
    check_rows(shape[0], f"input {name!r}", limits)
    count = prod(shape)
    if count == 0:
        raise BadRequest(f"input {name!r} has no elements (shape {shape})")
    size = _object(item.get("parameters"), f"input {name!r}: parameters").get("binary_data_size")
    if size is None:
        if "data" not in item:
            raise BadRequest(f"input {name!r} has neither data nor binary_data_size")
        values = flatten(item["data"], name)
        if len(values) != count:
            raise BadRequest(f"input {name!r} has {len(values)} values for shape {shape}")
        return [name, datatype, shape, pack(datatype, values, name)], 0
    if not binary:
        raise BadRequest(
            f"input {name!r} gives binary_data_size but the request has no "
            "Inference-Header-Content-Length header"
        )
    if type(size) is not int or size < 0:
        raise BadRequest(f"input {name!r}: binary_data_size must be a byte count")
    if "data" in item:
        raise BadRequest(f"input {name!r} has both data and binary_data_size")
    raw = tail[offset : offset + size]
    if len(raw) != size:
        raise BadRequest(f"the body ends inside the {size} binary bytes of input {name!r}")
    _check_raw(name, datatype, shape, count, raw)
    return [name, datatype, shape, raw], size


def _check_raw(name: str, datatype: str, shape: list[int], count: int, raw: bytes) -> None:
    if datatype == BYTES:
        try:
            found = len(bytes_elements(raw))
        except ValueError as exc:
            raise BadRequest(f"input {name!r}: malformed BYTES data: {exc}") from None
        if found != count:
            raise BadRequest(f"input {name!r} has {found} BYTES elements for shape {shape}")
    elif len(raw) != count * item_size(datatype):
        raise BadRequest(
            f"input {name!r}: {datatype} {shape} takes {count * item_size(datatype)} bytes; "
            f"binary_data_size is {len(raw)}"
        )


def _outputs(value: Any) -> tuple[Requested, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise BadRequest("outputs must be a list of {name, parameters}")
    requested: list[Requested] = []
    for index, item in enumerate(value):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name:
            raise BadRequest(f"outputs[{index}] needs a name")
        parameters = _object(item.get("parameters"), f"output {name!r}: parameters")
        if "classification" in parameters:
            raise BadRequest("the classification extension is not supported")
        binary = parameters.get("binary_data")
        if binary is not None and not isinstance(binary, bool):
            raise BadRequest(f"output {name!r}: binary_data must be true or false")
        if any(out.name == name for out in requested):
            raise BadRequest(f"output {name!r} is asked for twice")
        requested.append(Requested(name, binary))
    return tuple(requested) or None

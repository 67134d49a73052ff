"""Writing a v2 inference answer: JSON, or JSON followed by binary tensors.

The model process has already named and typed the outputs (as the version's tensor
metadata says) and written them as JSON values or as base64 of the v2 binary form.
Without an output selection in JSON, its bytes are spliced in as they are; otherwise the
asked-for outputs are picked in the asked order, binary ones after the JSON header whose
length ``Inference-Header-Content-Length`` gives.
"""

from __future__ import annotations

import binascii
from typing import Any

import orjson

from warmserve.errors import BadRequest
from warmserve.http.answers import Answer
from warmserve.http.exchange import UNNAMED_MODEL, Prediction
from warmserve.http.v2.request import InferRequest
from warmserve.http.v2.tensors import unpack
from warmserve.protocol import BYTES

BINARY = "application/octet-stream"


def write_answer(request: InferRequest, prediction: Prediction, binary: bool) -> Answer:
    """``binary``: the runner wrote raw tensors (the request wants some output binary)."""
    head: dict[str, Any] = {
        "model_name": prediction.name or UNNAMED_MODEL,
        "model_version": prediction.version,
    }
    if request.id is not None:
        head["id"] = request.id
    if not binary and request.outputs is None:
        return Answer(200, orjson.dumps(head)[:-1] + b',"outputs":' + prediction.body + b"}")
    outputs: list[dict[str, Any]] = []
    tail: list[bytes] = []
    version = prediction.version
    for tensor, as_binary in _selected(request, orjson.loads(prediction.body), version):
        out = {key: tensor[key] for key in ("name", "datatype", "shape")}
        if "data" in tensor:
            out["data"] = tensor["data"]
        elif as_binary:
            raw = _raw(tensor)
            out["parameters"] = {"binary_data_size": len(raw)}
            tail.append(raw)
        else:
            out["data"] = _values(tensor, version)
        outputs.append(out)
    header = orjson.dumps({**head, "outputs": outputs})
    if not tail:
        return Answer(200, header)
    headers = {"Inference-Header-Content-Length": str(len(header))}
    return Answer(200, header + b"".join(tail), headers, media_type=BINARY)


def _selected(
    request: InferRequest, tensors: list[dict[str, Any]], version: str
) -> list[tuple[dict[str, Any], bool]]:
    if request.outputs is None:
        return [(tensor, request.binary_output) for tensor in tensors]
    by_name = {tensor["name"]: tensor for tensor in tensors}
    chosen = []
    for out in request.outputs:
        tensor = by_name.get(out.name)
        if tensor is None:
            raise BadRequest(
                f"the model has no output {out.name!r}; its outputs are {', '.join(by_name)}",
                version=version,
            )
        chosen.append((tensor, request.binary_output if out.binary is None else out.binary))
    return chosen


def _raw(tensor: dict[str, Any]) -> bytes:
    return binascii.a2b_base64(tensor["raw"])


def _values(tensor: dict[str, Any], version: str) -> list[Any]:
    """JSON values of an output the runner wrote raw (a request mixing binary and JSON)."""
    values = unpack(tensor["datatype"], _raw(tensor))
    if tensor["datatype"] != BYTES:
        return values
    try:
        return [item.decode("utf-8") for item in values]
    except UnicodeDecodeError:
        raise BadRequest(
            f"output {tensor['name']!r} holds bytes that are not UTF-8 text; ask for it in "
            "binary (binary_data)",
            version=version,
        ) from None

"""A model's output as the v2 tensors its metadata announces.

Each output named in the version's tensor metadata is taken from the output (by name,
or by position when there is one), converted to the announced datatype where no value
changes (floats: any number), and shaped as announced (a column ``[N]`` is ``[N, 1]``).
An output that does not fit fails its request (500: the model broke its own
metadata) instead of answering with other names or types than the metadata.
Written as JSON values (``V2_JSON``) or as the v2
binary form in base64 (``V2_BINARY``): the body stays JSON, so it can be cached.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import orjson
import pandas as pd

from warmserve.protocol import BYTES, OutputForm, TensorMetadata, join_bytes
from warmserve.runtime.outputs import dumps
from warmserve.runtime.tensors.named import Named, describe, named_arrays
from warmserve.runtime.tensors.wire import numpy_dtype

TENSOR_OUTPUTS = (OutputForm.V2_JSON, OutputForm.V2_BINARY)
Array = np.ndarray[Any, Any]
Spec = dict[str, Any]


def encode_tensors(output: Any, form: OutputForm, metadata: TensorMetadata | None) -> bytes:
    named = named_arrays(output)
    specs = metadata.outputs if metadata is not None and metadata.outputs else describe(named)
    items = []
    for spec, values in _match(specs, named):
        array = _fit(values, spec)
        item: dict[str, Any] = {
            "name": spec["name"],
            "datatype": spec["datatype"],
            "shape": list(array.shape),
        }
        if form is OutputForm.V2_BINARY:
            item["raw"] = base64.b64encode(_raw(array, spec["datatype"])).decode("ascii")
        else:
            item["data"] = _values(array, spec)
        items.append(item)
    return orjson.dumps(items, option=orjson.OPT_SERIALIZE_NUMPY)


def _match(specs: list[Spec], named: list[Named]) -> list[tuple[Spec, Array]]:
    if len(specs) == 1 and len(named) == 1:
        return [(specs[0], named[0].array)]
    if len(named) == 1 and named[0].name is None:
        array = named[0].array
        if array.ndim == 2 and array.shape[1] == len(specs):  # one column per output
            return [(spec, array[:, j]) for j, spec in enumerate(specs)]
    by_name = {item.name: item.array for item in named}
    missing = [spec["name"] for spec in specs if spec["name"] not in by_name]
    if missing:
        has = ", ".join(str(item.name) for item in named)
        raise ValueError(f"the output has no {', '.join(missing)} (it has: {has})")
    return [(spec, by_name[spec["name"]]) for spec in specs]


def _fit(array: Array, spec: Spec) -> Array:
    name, datatype, shape = spec["name"], spec["datatype"], spec["shape"]
    array = _texts(array) if datatype == BYTES else _numbers(array, datatype, name)
    if array.ndim == len(shape) - 1 and shape[-1] == 1:
        array = array.reshape(*array.shape, 1)
    elif array.ndim == len(shape) + 1 and array.shape[-1] == 1:
        array = array.reshape(array.shape[:-1])
    fits = array.ndim == len(shape) and all(
        want in (-1, got) for want, got in zip(shape, array.shape, strict=True)
    )
    if not fits:
        raise ValueError(
            f"output {name!r} has shape {list(array.shape)}; its metadata says {shape}"
        )
    return array


def _numbers(array: Array, datatype: str, name: str) -> Array:
    target = numpy_dtype(datatype).newbyteorder("=")
    if array.dtype == target:
        return array
    try:
        with np.errstate(all="ignore"):
            cast = array.astype(target)
    except (TypeError, ValueError):
        cast = None
    if cast is not None and (target.kind == "f" or np.array_equal(cast, array)):
        return cast
    raise ValueError(f"output {name!r} ({array.dtype}) does not fit {datatype} unchanged")


def _text(item: Any) -> str | bytes:
    if isinstance(item, str | bytes):
        return item
    isoformat = getattr(item, "isoformat", None)
    if isoformat is not None:
        return str(isoformat())
    return dumps(item).decode("utf-8")


def _texts(array: Array) -> Array:
    flat = array.reshape(-1)
    if array.dtype.kind == "M":  # as MLflow's JSON writes them
        items: list[Any] = [pd.Timestamp(value).isoformat() for value in flat]
    else:
        items = [_text(item) for item in flat.tolist()]
    texts = np.empty(len(items), dtype=object)
    texts[:] = items
    return texts.reshape(array.shape)


def _values(array: Array, spec: Spec) -> Any:
    flat = array.reshape(-1)
    if spec["datatype"] != BYTES:
        return np.ascontiguousarray(flat)
    try:
        return [item.decode("utf-8") if isinstance(item, bytes) else item for item in flat]
    except UnicodeDecodeError:
        raise ValueError(
            f"output {spec['name']!r} holds bytes that are not UTF-8 text; ask for it in "
            "binary (binary_data)"
        ) from None


def _raw(array: Array, datatype: str) -> bytes:
    if datatype == BYTES:
        flat = array.reshape(-1).tolist()
        return join_bytes(item if isinstance(item, bytes) else item.encode() for item in flat)
    return array.astype(numpy_dtype(datatype), copy=False).tobytes()

"""Tensors as the HTTP worker sends them: ``[name, datatype, shape, raw]`` with ``raw`` in
the v2 binary layout (see ``protocol.TENSOR_CODES``), turned into numpy arrays; and what
the batch layer needs to merge such requests or predict them in parts.

Everything here treats its input as untrusted (a ``ValueError`` names what is wrong),
although the worker has already checked sizes and counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from math import prod
from typing import Any

import numpy as np

from warmserve.protocol import BYTES, TENSOR_CODES, bytes_elements, bytes_offsets

Tensor = list[Any]  # [name, datatype, shape, raw]


def numpy_dtype(datatype: str) -> np.dtype[Any]:
    """The little-endian numpy dtype of a fixed-size v2 datatype."""
    code = TENSOR_CODES.get(datatype)
    if code is None:
        raise ValueError(f"datatype {datatype!r} has no fixed-size element")
    return np.dtype("<" + code)


def datatype_of(dtype: np.dtype[Any]) -> str:
    """The v2 datatype of a numpy dtype (strings, bytes, objects and datetimes are BYTES)."""
    size = dtype.itemsize
    if dtype.kind == "b":
        return "BOOL"
    if dtype.kind in "iu" and size in (1, 2, 4, 8):
        return f"{'INT' if dtype.kind == 'i' else 'UINT'}{8 * size}"
    if dtype.kind == "f" and size in (2, 4, 8):
        return f"FP{8 * size}"
    if dtype.kind in "OUSM":
        return BYTES
    raise ValueError(f"no v2 datatype holds {dtype}")


def _text(item: bytes) -> str | bytes:
    try:
        return item.decode("utf-8")
    except UnicodeDecodeError:
        return item


def to_array(tensor: Tensor) -> np.ndarray[Any, Any]:
    """A tensor as a numpy array of its shape (BYTES: objects, str where UTF-8, else bytes)."""
    name, datatype, shape, raw = _unpack(tensor)
    count = prod(shape)
    if datatype == BYTES:
        items = bytes_elements(raw)
        if len(items) != count:
            raise ValueError(f"input {name!r} holds {len(items)} elements for shape {shape}")
        array = np.empty(count, dtype=object)
        array[:] = [_text(item) for item in items]
        return array.reshape(shape)
    dtype = numpy_dtype(datatype)
    if len(raw) != count * dtype.itemsize:
        raise ValueError(f"input {name!r} holds {len(raw)} bytes for {datatype} {shape}")
    if datatype == "BOOL":
        flags: np.ndarray[Any, Any] = np.frombuffer(raw, np.uint8) != 0
        return flags.reshape(shape)
    # a writable copy in native order: some models change their input, or refuse read-only
    return np.frombuffer(raw, dtype).astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def _unpack(tensor: Any) -> tuple[str, str, list[int], bytes]:
    if not isinstance(tensor, list | tuple) or len(tensor) != 4:
        raise ValueError("a tensor is [name, datatype, shape, raw]")
    name, datatype, shape, raw = tensor
    if not (
        isinstance(name, str)
        and isinstance(datatype, str)
        and isinstance(shape, list | tuple)
        and all(type(dim) is int and dim >= 0 for dim in shape)
        and isinstance(raw, bytes)
    ):
        raise ValueError("a tensor is [name, datatype, shape, raw]")
    return name, datatype, list(shape), raw


# --- batching ----------------------------------------------------------------------


def rows(tensors: Sequence[Tensor]) -> int | None:
    """The batch size every tensor shares (its first dimension), or None."""
    firsts = {shape[0] if shape else None for _, _, shape, _ in map(_unpack, tensors)}
    return firsts.pop() if len(firsts) == 1 else None


def batch_shape(tensors: Sequence[Tensor]) -> list[Any] | None:
    """What must be equal for two requests to share one predict call: every tensor's name,
    datatype and shape after the batch dimension. None: not batchable."""
    if not tensors or not rows(tensors):
        return None
    return [[name, datatype, shape[1:]] for name, datatype, shape, _ in map(_unpack, tensors)]


def _row_cuts(tensor: Tensor, at: Sequence[int]) -> list[int]:
    """Byte offsets of rows ``at`` (row numbers, ascending) in a tensor's raw data."""
    _, datatype, shape, raw = _unpack(tensor)
    per_row = prod(shape[1:])
    if datatype == BYTES:
        offsets = bytes_offsets(raw)
        return [offsets[row * per_row] for row in at]
    size = per_row * numpy_dtype(datatype).itemsize
    return [row * size for row in at]


def parts(tensors: Sequence[Tensor], chunk_rows: int) -> list[list[Tensor]]:
    """The request in parts of at most ``chunk_rows`` rows (along the batch dimension)."""
    total = rows(tensors)
    if total is None or total <= chunk_rows:
        return [list(tensors)]
    starts = list(range(0, total, chunk_rows))
    bounds = [*starts, total]
    pieces: list[list[Tensor]] = [[] for _ in starts]
    for tensor in tensors:
        name, datatype, shape, raw = _unpack(tensor)
        cuts = _row_cuts(tensor, bounds)
        for index, (low, high) in enumerate(pairwise(bounds)):
            piece = raw[cuts[index] : cuts[index + 1]]
            pieces[index].append([name, datatype, [high - low, *shape[1:]], piece])
    return pieces


def merge(requests: Sequence[Sequence[Tensor]]) -> list[Tensor]:
    """One request of the tensors of requests with equal batch shapes, stacked by rows."""
    unpacked = [[_unpack(tensor) for tensor in request] for request in requests]
    merged: list[Tensor] = []
    for position, (name, datatype, shape, _) in enumerate(unpacked[0]):
        same = [request[position] for request in unpacked]
        total = sum(tensor[2][0] for tensor in same)
        merged.append([name, datatype, [total, *shape[1:]], b"".join(t[3] for t in same)])
    return merged

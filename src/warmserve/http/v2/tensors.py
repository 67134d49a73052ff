"""Tensor values <-> the v2 binary form, in pure Python (the HTTP worker has no numpy).

Fixed-size datatypes are packed with ``array`` (``struct`` for FP16 and BOOL), which
also refuses what does not fit: a fraction in an INT tensor, 300 in a UINT8, a string
in an FP32. BYTES elements are a 4-byte little-endian length and the bytes.
"""

from __future__ import annotations

import struct
import sys
from array import array
from itertools import chain
from typing import Any

from warmserve.errors import BadRequest
from warmserve.protocol import BYTES, TENSOR_CODES, bytes_elements, join_bytes

INF = float("inf")
DATATYPES = (*TENSOR_CODES, BYTES)
# Datatypes array packs itself: those whose array item has the wire size.
ARRAY_CODES = {
    datatype: code
    for datatype, code in TENSOR_CODES.items()
    if code in "bBhHiIlLqQfd" and array(code).itemsize == struct.calcsize("<" + code)
}


def item_size(datatype: str) -> int:
    return struct.calcsize("<" + TENSOR_CODES[datatype])


def flatten(data: Any, name: str) -> list[Any]:
    """The values of a tensor's ``data``, flat in row-major order (nested lists allowed)."""
    if not isinstance(data, list):
        raise BadRequest(f"input {name!r}: data must be a list of values")
    flat = data
    while flat and any(type(item) is list for item in flat):
        if not all(type(item) is list for item in flat):
            raise BadRequest(f"input {name!r}: data mixes lists and values at one level")
        flat = list(chain.from_iterable(flat))
    return flat


def pack(datatype: str, values: list[Any], name: str) -> bytes:
    """JSON values of one tensor in its v2 binary form (400 for values that do not fit)."""
    if datatype == BYTES:
        if not all(type(value) is str for value in values):
            raise BadRequest(f"input {name!r}: BYTES data must be strings")
        try:
            return join_bytes(value.encode() for value in values)
        except UnicodeEncodeError as exc:
            raise BadRequest(f"input {name!r}: a string is not valid Unicode: {exc}") from None
    if datatype == "BOOL":
        if not all(type(value) is bool for value in values):
            raise BadRequest(f"input {name!r}: BOOL data must be true or false")
        return bytes(values)
    try:
        code = ARRAY_CODES.get(datatype)
        if code is None:
            return struct.pack(f"<{len(values)}{TENSOR_CODES[datatype]}", *values)
        packed = array(code, values)
    except (TypeError, OverflowError, struct.error) as exc:
        raise BadRequest(f"input {name!r}: a value does not fit {datatype}: {exc}") from None
    if datatype == "FP32" and (INF in packed or -INF in packed):  # JSON has no infinity
        raise BadRequest(f"input {name!r}: a value is out of the range of FP32")
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def unpack(datatype: str, raw: bytes) -> list[Any]:
    """The flat values of a tensor in its v2 binary form (BYTES elements as bytes)."""
    if datatype == BYTES:
        return bytes_elements(raw)
    if datatype == "BOOL":
        return [byte != 0 for byte in raw]
    code = ARRAY_CODES.get(datatype)
    if code is None:
        count = len(raw) // item_size(datatype)
        return list(struct.unpack(f"<{count}{TENSOR_CODES[datatype]}", raw))
    values = array(code)
    values.frombytes(raw)
    if sys.byteorder == "big":
        values.byteswap()
    return values.tolist()

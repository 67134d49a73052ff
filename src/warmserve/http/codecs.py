"""Request decoding shared by the prediction routes (/invocations lives in :mod:`.scoring`).

Everything a client can get wrong in the envelope is caught here, in the HTTP
worker, with a 4xx that says what is wrong — including the input limits of
:mod:`.limits`; building the frame and checking the signature happen in the
runner, which knows the model.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import orjson

from warmserve.errors import BadRequest, UnsupportedMediaType
from warmserve.http.limits import (
    InputLimits,
    check_columns,
    check_depth,
    check_records,
    check_rows,
    check_split,
)
from warmserve.protocol import InputForm

FORMATS = {
    "dataframe_split": InputForm.SPLIT,
    "dataframe_records": InputForm.RECORDS,
    "instances": InputForm.INSTANCES,
    "inputs": InputForm.INPUTS,
}
SPLIT_KEYS = {"columns", "data", "index"}
CONTENT_TYPES = ("application/json", "text/csv")
UTF8_BOM = b"\xef\xbb\xbf"
LONG_NUMBER = re.compile(rb"\d{19}")  # may be an integer beyond 64 bits


@dataclass(frozen=True, slots=True)
class ModelInput:
    form: InputForm
    data: Any
    params: Any = None  # the JSON sent as params, whatever its type (the model's schema decides)
    cacheable: bool = True  # False: the cache key could not tell this input from another
    bare: bool = False  # answered without the {"predictions": ...} wrapper
    # A JSON-able stand-in for ``data`` in cache keys, where data holds raw bytes (tensors).
    fingerprint: Any = None

    @property
    def key_data(self) -> Any:
        """What the cache key is computed from."""
        return self.data if self.fingerprint is None else self.fingerprint


def parse_content_type(header: str | None, allowed: tuple[str, ...] = CONTENT_TYPES) -> str:
    """Return the media type; reject charsets other than UTF-8 and unknown parameters."""
    if not header:
        raise UnsupportedMediaType(f"missing Content-Type; use one of: {', '.join(allowed)}")
    media, *parameters = (part.strip() for part in header.split(";"))
    media = media.lower()
    for parameter in parameters:
        if not parameter:
            continue
        key, _, value = parameter.partition("=")
        key = key.strip().lower()
        value = value.strip().strip('"').lower()
        if key != "charset":
            raise UnsupportedMediaType(f"unsupported Content-Type parameter {key!r}")
        if value not in ("utf-8", "utf8"):
            raise UnsupportedMediaType(f"unsupported charset {value!r}; only UTF-8 is accepted")
    if media not in allowed:
        raise UnsupportedMediaType(
            f"unsupported Content-Type {media!r}; use one of: {', '.join(allowed)}"
        )
    return media


def parse_json(body: bytes) -> tuple[Any, bool]:
    """The document, and whether the cache key can tell it from any other.

    orjson first (a UTF-8 byte-order mark skipped). Python's parser — the one
    MLflow's scoring server uses — reads what orjson refuses (NaN and Infinity,
    UTF-16/32 text, unpaired surrogates) and every body with a run of 19 digits:
    orjson turns an integer beyond 64 bits into a float, silently rounded.
    """
    if not body:
        raise BadRequest("the request body is empty")
    refused: Exception | None = None
    if LONG_NUMBER.search(body) is None:
        try:
            return orjson.loads(body[3:] if body.startswith(UTF8_BOM) else body), True
        except orjson.JSONDecodeError as exc:
            refused = exc
    try:
        return _exact_json(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError...
        raise BadRequest(f"malformed JSON: {refused or exc}") from None


def _exact_json(body: bytes) -> tuple[Any, bool]:
    """Python's parser; the document is not cacheable if it holds NaN or an infinity (the
    cache key's canonical JSON would write them as null)."""
    finite = True

    def constant(name: str) -> float:
        nonlocal finite
        finite = False
        return float(name)

    def number(text: str) -> float:
        nonlocal finite
        value = float(text)
        finite = finite and math.isfinite(value)
        return value

    return json.loads(body, parse_constant=constant, parse_float=number), finite


def check_shape(form: InputForm, data: Any, limits: InputLimits) -> None:
    if form is InputForm.SPLIT:
        if not isinstance(data, dict):
            raise BadRequest("dataframe_split must be an object with data (and columns, index)")
        extra = set(data) - SPLIT_KEYS
        if "data" not in data or extra:
            raise BadRequest(
                "dataframe_split must have a data field and optionally columns and index; "
                f"got {', '.join(sorted(data)) or 'no fields'}"
            )
        if not isinstance(data["data"], list):
            raise BadRequest("dataframe_split.data must be a list of rows")
        for name in ("columns", "index"):
            if name in data and not isinstance(data[name], list):
                raise BadRequest(f"dataframe_split.{name} must be a list")
        check_split(data, limits)
    elif form is InputForm.RECORDS:
        check_records_form(data, "dataframe_records", limits, allow_empty=True)
    elif isinstance(data, list):
        check_rows(len(data), form.value, limits)
    elif isinstance(data, dict):
        check_columns(len(data), form.value, limits)


def check_records_form(
    data: Any, where: str, limits: InputLimits, *, allow_empty: bool = False
) -> None:
    if isinstance(data, list) and not data and allow_empty:
        return
    if not isinstance(data, list) or not data:
        raise BadRequest(f"{where} must be a non-empty list of objects")
    if set(map(type, data)) != {dict}:
        index, record = next((i, r) for i, r in enumerate(data) if not isinstance(r, dict))
        raise BadRequest(f"{where}[{index}] must be an object, got {type(record).__name__}")
    check_records(data, where, limits)


def decode_predict(body: bytes, content_type: str | None, limits: InputLimits) -> ModelInput:
    """/predict takes one record (a JSON object) or a list of records."""
    if parse_content_type(content_type) != "application/json":
        raise UnsupportedMediaType("/predict takes application/json; use /invocations for CSV")
    document, cacheable = parse_json(body)
    check_depth(document, limits, body)
    records = [document] if isinstance(document, dict) else document
    check_records_form(records, "the body", limits)
    return ModelInput(InputForm.RECORDS, records, cacheable=cacheable)

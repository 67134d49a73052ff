"""Request decoding for /invocations (the MLflow scoring protocol) and /predict.

Everything a client can get wrong in the envelope is caught here, in the HTTP
worker, with a 4xx that says what is wrong — including the input limits of
:mod:`.limits`; building the frame and checking the signature happen in the
runner, which knows the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from warmserve.errors import BadRequest, UnsupportedMediaType
from warmserve.http.limits import (
    InputLimits,
    check_columns,
    check_csv,
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


@dataclass(frozen=True, slots=True)
class ModelInput:
    form: InputForm
    data: Any
    params: dict[str, Any] | None = None
    # A JSON-able stand-in for ``data`` in cache keys, where data holds raw bytes (tensors).
    fingerprint: Any = None

    @property
    def key_data(self) -> Any:
        """What the cache key is computed from."""
        return self.data if self.fingerprint is None else self.fingerprint


def parse_content_type(header: str | None) -> str:
    """Return the media type; reject charsets other than UTF-8 and unknown parameters."""
    if not header:
        raise UnsupportedMediaType(f"missing Content-Type; use one of: {', '.join(CONTENT_TYPES)}")
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
    if media not in CONTENT_TYPES:
        raise UnsupportedMediaType(
            f"unsupported Content-Type {media!r}; use one of: {', '.join(CONTENT_TYPES)}"
        )
    return media


def load_json(body: bytes) -> Any:
    if not body:
        raise BadRequest("the request body is empty")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None


def decode_invocations(body: bytes, content_type: str | None, limits: InputLimits) -> ModelInput:
    """Decode a /invocations body exactly as the MLflow scoring server accepts it."""
    media = parse_content_type(content_type)
    if media == "text/csv":
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest(f"the CSV body is not valid UTF-8: {exc}") from None
        if not text.strip():
            raise BadRequest("the CSV body is empty")
        check_csv(text, limits)
        return ModelInput(InputForm.CSV, text)
    document = load_json(body)
    if not isinstance(document, dict):
        raise BadRequest(
            "the JSON body must be an object with exactly one of "
            f"{', '.join(FORMATS)} (and optionally params); got {type(document).__name__}"
        )
    present = [key for key in FORMATS if key in document]
    unknown = sorted(set(document) - set(FORMATS) - {"params"})
    if len(present) != 1 or unknown:
        found = ", ".join(sorted(document)) or "none"
        raise BadRequest(
            f"the JSON body must have exactly one of {', '.join(FORMATS)} "
            f"(and optionally params); found fields: {found}"
        )
    check_depth(document, limits)
    key = present[0]
    params = document.get("params")
    if params is not None and not isinstance(params, dict):
        raise BadRequest("params must be a JSON object")
    data = document[key]
    _check_shape(FORMATS[key], data, limits)
    return ModelInput(FORMATS[key], data, params or None)


def _check_shape(form: InputForm, data: Any, limits: InputLimits) -> None:
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
        _check_records(data, "dataframe_records", limits)
    elif data is None:
        raise BadRequest(f"{form.value} must not be null")
    elif isinstance(data, list):
        check_rows(len(data), form.value, limits)
    elif isinstance(data, dict):
        check_columns(len(data), form.value, limits)


def _check_records(data: Any, where: str, limits: InputLimits) -> None:
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
    document = load_json(body)
    check_depth(document, limits)
    records = [document] if isinstance(document, dict) else document
    _check_records(records, "the body", limits)
    return ModelInput(InputForm.RECORDS, records)

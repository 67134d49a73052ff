"""/invocations bodies, read as MLflow's scoring server reads them.

- ``application/json``: a body holding ``messages``, ``prompt`` or ``input`` is a
  chat, completions or embeddings request (MLflow's "unified LLM input"): it goes
  to the model whole and is answered without the ``predictions`` wrapper.
  Otherwise exactly one of ``dataframe_split``, ``dataframe_records``,
  ``instances`` or ``inputs``, optionally ``params``; other fields are ignored.
- ``text/csv``: a CSV with a header row.
- ``application/vnd.apache.parquet``: a Parquet file, read in the model process.

Only the envelope is checked here; the model process builds the input and
checks it against the model (signature, type hints, params schema).
"""

from __future__ import annotations

from warmserve.errors import BadRequest
from warmserve.http.codecs import (
    FORMATS,
    ModelInput,
    check_shape,
    parse_content_type,
    parse_json,
)
from warmserve.http.limits import InputLimits, check_csv, check_depth
from warmserve.protocol import InputForm

JSON = "application/json"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
CONTENT_TYPES = (JSON, CSV, PARQUET)
# The keys that make a JSON body MLflow's unified LLM input (a unit test compares them
# with mlflow.pyfunc.utils.serving_data_parser.SUPPORTED_LLM_FORMATS).
LLM_KEYS = ("messages", "prompt", "input")


def decode_invocations(body: bytes, content_type: str | None, limits: InputLimits) -> ModelInput:
    """Decode a /invocations body exactly as the MLflow scoring server accepts it."""
    media = parse_content_type(content_type, CONTENT_TYPES)
    if media == CSV:
        return _csv(body, limits)
    if media == PARQUET:
        if not body:
            raise BadRequest("the Parquet body is empty")
        return ModelInput(InputForm.PARQUET, body)
    document, cacheable = parse_json(body)
    if not isinstance(document, dict):
        raise BadRequest(
            "the JSON body must be an object with exactly one of "
            f"{', '.join(FORMATS)} (and optionally params); got {type(document).__name__}"
        )
    check_depth(document, limits, body)
    if any(key in document for key in LLM_KEYS):
        return ModelInput(InputForm.LLM, document, cacheable=cacheable, bare=True)
    present = [key for key in FORMATS if key in document]
    if len(present) != 1:
        found = ", ".join(sorted(document)) or "none"
        raise BadRequest(
            f"the JSON body must have exactly one of {', '.join(FORMATS)} "
            f"(and optionally params); found fields: {found}"
        )
    key = present[0]
    check_shape(FORMATS[key], document[key], limits)
    return ModelInput(FORMATS[key], document[key], document.get("params"), cacheable=cacheable)


def _csv(body: bytes, limits: InputLimits) -> ModelInput:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the CSV body is not valid UTF-8: {exc}") from None
    if not text.strip():
        raise BadRequest("the CSV body is empty")
    check_csv(text, limits)
    return ModelInput(InputForm.CSV, text)

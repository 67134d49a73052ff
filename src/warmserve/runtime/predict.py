"""Turn request payloads into model input, predict a batch, slice the answer.

A batch merges the raw rows of requests that share a batch key and builds ONE
frame, so parsing and schema enforcement happen once per batch. If the merged
prediction fails or its length does not match, every request is predicted on
its own: a bad row fails only the request that sent it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import orjson

from warmserve.errors import BadRequest, PredictionFailed, SchemaError, WarmserveError
from warmserve.protocol import PredictRequest
from warmserve.runtime.fastpath import fast_predict
from warmserve.runtime.model import LoadedModel

FORMAT_KEYS = {
    "split": "dataframe_split",
    "records": "dataframe_records",
    "instances": "instances",
    "inputs": "inputs",
}

Outcome = bytes | WarmserveError


def batch_key(request: PredictRequest) -> tuple[object, int]:
    """(key, rows): requests with equal non-None keys may share a predict call."""
    params = _params_key(request.params)
    data = request.data
    if request.fmt == "split" and isinstance(data, dict) and "index" not in data:
        rows = data.get("data")
        if isinstance(rows, list) and rows:
            columns = data.get("columns")
            cols = tuple(columns) if isinstance(columns, list) else None
            return ("split", cols, params), len(rows)
    if request.fmt == "records" and isinstance(data, list) and data:
        first = data[0]
        if isinstance(first, dict):
            keys = tuple(first)
            if all(isinstance(rec, dict) and tuple(rec) == keys for rec in data):
                return ("records", keys, params), len(data)
    return None, 1


def _params_key(params: dict[str, Any] | None) -> bytes | None:
    if not params:
        return None
    return orjson.dumps(params, option=orjson.OPT_SORT_KEYS)


def predict_batch(model: LoadedModel, requests: Sequence[PredictRequest]) -> list[Outcome]:
    """Predict every request, merged when possible; one outcome per request."""
    if len(requests) > 1:
        merged = _predict_merged(model, requests)
        if merged is not None:
            return merged
    return [_predict_one(model, request) for request in requests]


def _predict_merged(model: LoadedModel, requests: Sequence[PredictRequest]) -> list[Outcome] | None:
    first = requests[0]
    counts = [batch_key(request)[1] for request in requests]
    if first.fmt == "split":
        rows: list[Any] = []
        for request in requests:
            rows.extend(request.data["data"])
        data: Any = {"columns": first.data.get("columns"), "data": rows}
        if data["columns"] is None:
            del data["columns"]
    else:
        data = [record for request in requests for record in request.data]
    try:
        predictions = _jsonable(_predict(model, first.fmt, data, first.params))
    except Exception:
        return None
    if not isinstance(predictions, list) or len(predictions) != sum(counts):
        return None
    outcomes: list[Outcome] = []
    offset = 0
    for count in counts:
        outcomes.append(dumps(predictions[offset : offset + count]))
        offset += count
    return outcomes


def _predict_one(model: LoadedModel, request: PredictRequest) -> Outcome:
    try:
        return dumps(_jsonable(_predict(model, request.fmt, request.data, request.params)))
    except WarmserveError as exc:
        return exc
    except Exception as exc:  # the model's own failure, flattened for the wire
        return PredictionFailed(f"the model failed to predict: {type(exc).__name__}: {exc}")


def _predict(model: LoadedModel, fmt: str, data: Any, params: dict[str, Any] | None) -> Any:
    fast = fast_predict(model, fmt, data, params)
    if fast is not NotImplemented:
        return fast
    frame = parse_input(model, fmt, data)
    try:
        return model.pyfunc.predict(frame, params=params)
    except Exception as exc:
        message = getattr(exc, "message", None) or str(exc)
        if "schema" in message.lower():
            raise SchemaError(f"input does not match the model signature: {message}") from exc
        raise


def parse_input(model: LoadedModel, fmt: str, data: Any) -> Any:
    """Build the model input the way `mlflow models serve` does (schema-aware)."""
    from mlflow.pyfunc.scoring_server import infer_and_parse_data, parse_csv_input

    try:
        if fmt == "csv":
            return parse_csv_input(io.StringIO(data), schema=model.input_schema)
        return infer_and_parse_data({FORMAT_KEYS[fmt]: data}, model.input_schema)
    except Exception as exc:
        message = getattr(exc, "message", None) or str(exc)
        raise BadRequest(f"cannot build the model input from {fmt!r}: {message}") from exc


def _jsonable(predictions: Any) -> Any:
    from mlflow.pyfunc.scoring_server import _get_jsonable_obj

    return _get_jsonable_obj(predictions, pandas_orient="records")


def _default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if isinstance(obj, bytes | bytearray):
        import base64

        return base64.b64encode(obj).decode("ascii")
    raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


def dumps(obj: Any) -> bytes:
    """JSON text of a prediction (numpy arrays and scalars included)."""
    return orjson.dumps(obj, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)

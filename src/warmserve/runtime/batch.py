"""Requests in the model process: keys, parts, merged prediction, outcomes.

A batch merges the raw rows of requests that share a batch key and predicts
ONE input, so parsing and schema enforcement happen once per batch. If the
merged prediction fails or its output is not row-aligned, every request is
predicted on its own: a bad row fails only the request that sent it.

A large request is predicted in parts of at most ``chunk_rows`` rows, one part
in the queue at a time, so other requests interleave with it instead of
waiting behind hundreds of thousands of rows; its outputs are joined before
they are encoded once.

Nothing here raises: every failure becomes the outcome of the request(s) it
belongs to (the batch loop around this must never die of a client's input).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from warmserve.errors import InternalError, WarmserveError
from warmserve.protocol import InputForm, OutputForm, PredictRequest
from warmserve.runtime import outputs
from warmserve.runtime.mlflow_errors import prediction_error
from warmserve.runtime.predictors import Predictor
from warmserve.runtime.tensors import wire

Encoder = Callable[[Any, OutputForm], bytes]  # a raw output in an output form

log = logging.getLogger("warmserve.runner")

Outcome = bytes | WarmserveError | None  # reply body, error, or "part done, more to come"

LISTS = (InputForm.RECORDS, InputForm.INSTANCES, InputForm.INPUTS)


@dataclass(slots=True, eq=False)
class Job:
    """One client request in the model process, predicted whole or in parts."""

    request: PredictRequest
    conn: Any  # the connection to answer on (opaque here)
    rows: int
    key: bytes | None
    parts: list[Any] = field(default_factory=list)  # payloads not yet queued
    outputs: list[Any] = field(default_factory=list)  # raw outputs of finished parts
    cancelled: bool = False


@dataclass(slots=True, eq=False)
class Pending:
    """One piece of a job waiting in the queue (what the batch planner sees)."""

    job: Job
    data: Any
    rows: int
    arrived: float
    arrived_idle: bool
    last: bool = True

    @property
    def key(self) -> bytes | None:
        return self.job.key


def payload_rows(form: InputForm, data: Any) -> int:
    """Rows a payload holds, as far as the envelope tells (1 when it does not)."""
    try:
        if form is InputForm.SPLIT and isinstance(data, dict):
            rows = data.get("data")
            return len(rows) if isinstance(rows, list) else 1
        if form in LISTS and isinstance(data, list):
            return max(1, len(data))
        if form is InputForm.CSV and isinstance(data, str):
            body = data[data.find("\n") + 1 :] if "\n" in data else ""
            return max(1, body.count("\n") + (bool(body) and not body.endswith("\n")))
        if form is InputForm.TENSORS:
            return wire.rows(data) or 1
        if form is InputForm.MATRIX:
            return max(1, int(data["rows"]))
    except Exception:  # pragma: no cover - defensive: a row count never fails a request
        return 1
    return 1


def request_rows(request: PredictRequest) -> int:
    return payload_rows(request.form, request.data)


def batch_key(request: PredictRequest) -> bytes | None:
    """Requests with equal non-None keys may share one predict call (same form, columns
    and params). Never raises: input that cannot be keyed is simply never merged."""
    try:
        data = request.data
        if request.form is InputForm.SPLIT and isinstance(data, dict) and "index" not in data:
            rows = data.get("data")
            if not isinstance(rows, list) or not rows:
                return None
            columns = data.get("columns")
            shape: Any = columns if isinstance(columns, list) else None
        elif request.form is InputForm.RECORDS and isinstance(data, list) and data:
            first = data[0]
            if not isinstance(first, dict):
                return None
            keys = list(first)
            if not all(isinstance(rec, dict) and list(rec) == keys for rec in data):
                return None
            shape = keys
        elif request.form is InputForm.TENSORS:
            shape = wire.batch_shape(data)
            if shape is None:
                return None
        else:
            return None
        return orjson.dumps([str(request.form), shape, request.params], option=orjson.OPT_SORT_KEYS)
    except Exception:  # too deep, unserializable, RecursionError...
        return None


def chunks(request: PredictRequest, rows: int, chunk_rows: int) -> list[Any]:
    """The request's payload in parts of at most ``chunk_rows`` rows ([payload] if whole)."""
    data = request.data
    if rows <= chunk_rows:
        return [data]
    try:
        if request.form is InputForm.SPLIT and isinstance(data, dict) and "index" not in data:
            body = data["data"]
            return [
                {**data, "data": body[start : start + chunk_rows]}
                for start in range(0, len(body), chunk_rows)
            ]
        if request.form in LISTS and isinstance(data, list):
            return [data[start : start + chunk_rows] for start in range(0, len(data), chunk_rows)]
        if request.form is InputForm.TENSORS:
            return list(wire.parts(data, chunk_rows))
        if request.form is InputForm.MATRIX:
            return matrix_parts(data, chunk_rows)
        if request.form is InputForm.CSV and isinstance(data, str) and '"' not in data:
            header, _, body = data.partition("\n")
            lines = body.splitlines()
            return [
                header + "\n" + "\n".join(lines[start : start + chunk_rows]) + "\n"
                for start in range(0, len(lines), chunk_rows)
            ]
    except Exception:  # pragma: no cover - defensive
        log.debug("request %d not split into parts", request.id, exc_info=True)
    return [data]


def matrix_parts(data: dict[str, Any], chunk_rows: int) -> list[Any]:
    """A packed matrix in parts of ``chunk_rows`` rows (views of its bytes, no copies)."""
    width = len(data["columns"]) * 8
    values = memoryview(data["values"])
    total = int(data["rows"])
    return [
        {
            "columns": data["columns"],
            "rows": min(chunk_rows, total - start),
            "values": values[start * width : (start + chunk_rows) * width],
        }
        for start in range(0, total, chunk_rows)
    ]


def merge(batch: Sequence[Pending]) -> Any:
    """The payload of one predict call for pieces that share a batch key."""
    first = batch[0]
    if first.job.request.form is InputForm.TENSORS:
        return wire.merge([pending.data for pending in batch])
    if first.job.request.form is InputForm.SPLIT:
        rows: list[Any] = []
        for pending in batch:
            rows.extend(pending.data["data"])
        merged: dict[str, Any] = {"data": rows}
        if first.data.get("columns") is not None:
            merged["columns"] = first.data["columns"]
        return merged
    return [record for pending in batch for record in pending.data]


def execute(
    predictor: Predictor, batch: Sequence[Pending], encode: Encoder = outputs.encode
) -> list[Outcome]:
    """Predict every piece of ``batch`` (merged when possible); one outcome per piece.
    ``encode`` writes a raw output in a request's output form (the served version's)."""
    raws: list[Any] | None = None
    if len(batch) > 1:
        raws = _predict_merged(predictor, batch)
    if raws is None:
        raws = [_predict_one(predictor, pending.job.request, pending.data) for pending in batch]
    return [
        _finish(predictor, pending, raw, encode) for pending, raw in zip(batch, raws, strict=True)
    ]


def execute_inline(
    predictor: Predictor, batch: Sequence[Pending], encode: Encoder = outputs.encode
) -> list[Outcome] | None:
    """The outcomes, computed on the calling thread by a predictor's inline path, or None
    when that path does not take the batch (the caller then uses ``execute``).

    A compiled predictor answers a small numeric batch in microseconds: handing it to
    the predict thread and back would cost more than the prediction. Its inline path is
    warmserve's own arithmetic (numpy, treelite), never model code that could hang.
    """
    inline = getattr(predictor, "predict_inline", None)
    if inline is None or any(not pending.last or pending.job.outputs for pending in batch):
        return None
    request = batch[0].job.request
    try:
        data = merge(batch) if len(batch) > 1 else batch[0].data
        output = inline(request.form, data, request.params)
        if output is NotImplemented:
            return None
        raws = outputs.split(output, [pending.rows for pending in batch])
        if raws is None:
            return None
        return [_encode(pending.job, raw, encode) for pending, raw in zip(batch, raws, strict=True)]
    except Exception:
        return None  # the predict thread does it again, with every error rule


def _predict_merged(predictor: Predictor, batch: Sequence[Pending]) -> list[Any] | None:
    request = batch[0].job.request
    try:
        output = predictor.predict(request.form, merge(batch), request.params)
        return outputs.split(output, [pending.rows for pending in batch])
    except Exception:
        return None  # predict each alone: the culprit fails by itself


def _predict_one(predictor: Predictor, request: PredictRequest, data: Any) -> Any:
    """The raw output, or the WarmserveError this request answers with."""
    try:
        return predictor.predict(request.form, data, request.params)
    except Exception as exc:  # the model's own failure, as MLflow answers it
        return prediction_error(exc)


def _finish(predictor: Predictor, pending: Pending, raw: Any, encode: Encoder) -> Outcome:
    """Record a piece's output; encode the request's answer once its last piece is in."""
    if isinstance(raw, WarmserveError):
        return raw
    job = pending.job
    try:
        if not pending.last or job.outputs:
            if outputs.row_count(raw) != pending.rows:
                # not row-aligned: parts cannot be joined, so predict the request whole
                job.parts.clear()
                job.outputs.clear()
                whole = _predict_one(predictor, job.request, job.request.data)
                return whole if isinstance(whole, WarmserveError) else _encode(job, whole, encode)
            job.outputs.append(raw)
            if not pending.last:
                return None
            raw = outputs.join(job.outputs)
            job.outputs.clear()
        return _encode(job, raw, encode)
    except Exception as exc:
        log.exception("request %d: unexpected error after predict", job.request.id)
        return WarmserveError(f"internal error while finishing the prediction: {exc!r}")


def _encode(job: Job, raw: Any, encode: Encoder) -> bytes | WarmserveError:
    try:
        return encode(raw, job.request.output)
    except Exception as exc:
        return InternalError(
            f"the model's output cannot be encoded as {job.request.output.value}: "
            f"{type(exc).__name__}: {exc}"
        )

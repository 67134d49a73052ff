"""The batch layer in-process: keys, parts, merged prediction and per-request outcomes.

A fake predictor stands in for a model here (the real predictors have their own
tests): these tests are about who gets which answer, not about a model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from fakes import pendings
from warmserve.errors import BadRequest, InternalError, PredictionFailed, WarmserveError
from warmserve.protocol import InputForm, PredictRequest
from warmserve.runtime.batch import (
    Pending,
    batch_key,
    chunks,
    execute,
    payload_rows,
    request_rows,
)


class Doubler:
    """Doubles column x; a row with x == -1 makes the whole call fail (a bad row)."""

    name = "fake"

    def __init__(self, output: str = "array") -> None:
        self.calls: list[int] = []
        self.output = output

    def predict(self, form: InputForm, data: Any, params: dict[str, Any] | None) -> Any:
        if form is InputForm.SPLIT:
            xs = [row[0] for row in data["data"]]
        else:
            xs = [record["x"] for record in data]
        self.calls.append(len(xs))
        if -1 in xs:
            raise ValueError("bad row")
        if self.output == "scalar":
            return float(sum(xs))
        if self.output == "unencodable":
            return [object() for _ in xs]
        if self.output == "frame":
            return pd.DataFrame({"y": [2 * x for x in xs]})
        return np.array([2.0 * x for x in xs])

    def detail(self) -> dict[str, Any]:
        return {}


def split(*xs: float) -> PredictRequest:
    return PredictRequest(
        0, "default", 1e12, InputForm.SPLIT, {"columns": ["x"], "data": [[x] for x in xs]}
    )


def test_requests_with_one_key_share_one_call_and_each_gets_its_rows() -> None:
    model = Doubler()
    outcomes = execute(model, pendings(split(1), split(2, 3), split(4)))
    assert model.calls == [4]
    assert [orjson.loads(o) for o in outcomes] == [[2.0], [4.0, 6.0], [8.0]]  # type: ignore[arg-type]


def test_a_bad_row_fails_only_the_request_that_sent_it() -> None:
    model = Doubler()
    outcomes = execute(model, pendings(split(1), split(-1), split(3)))
    assert model.calls == [3, 1, 1, 1]  # merged, failed, then each alone
    assert orjson.loads(outcomes[0]) == [2.0]  # type: ignore[arg-type]
    assert isinstance(outcomes[1], PredictionFailed)  # MLflow's 400, its text in the trace
    assert "ValueError: bad row" in (outcomes[1].stack_trace or "")
    assert orjson.loads(outcomes[2]) == [6.0]  # type: ignore[arg-type]


def test_output_that_is_not_row_aligned_is_predicted_per_request() -> None:
    model = Doubler("scalar")
    outcomes = execute(model, pendings(split(1), split(2, 3)))
    assert [orjson.loads(o) for o in outcomes] == [1.0, 5.0]  # type: ignore[arg-type]


def test_output_that_cannot_be_encoded_fails_its_request_with_a_clear_error() -> None:
    """The second door of issue 8: an unencodable merged output must not escape."""
    outcomes = execute(Doubler("unencodable"), pendings(split(1), split(2)))
    assert all(isinstance(o, InternalError) and o.status == 500 for o in outcomes)
    assert "cannot be encoded" in outcomes[0].message  # type: ignore[union-attr]


def test_a_large_request_is_predicted_in_parts_and_joined() -> None:
    model = Doubler("frame")
    (first,) = pendings(split(*range(10)), chunk_rows=4)
    job = first.job
    assert first.rows == 4 and not first.last and len(job.parts) == 2
    assert execute(model, [first]) == [None]
    second = Pending(job, job.parts.pop(0), 4, 0.0, False, last=False)
    assert execute(model, [second]) == [None]
    third = Pending(job, job.parts.pop(0), 2, 0.0, False, last=True)
    (outcome,) = execute(model, [third])
    assert model.calls == [4, 4, 2]
    assert orjson.loads(outcome) == [{"y": 2.0 * x} for x in range(10)]  # type: ignore[arg-type]


def test_parts_whose_output_is_not_row_aligned_fall_back_to_the_whole_request() -> None:
    model = Doubler("scalar")
    (first,) = pendings(split(*range(6)), chunk_rows=4)
    (outcome,) = execute(model, [first])
    assert orjson.loads(outcome) == float(sum(range(6)))  # type: ignore[arg-type]
    assert first.job.parts == []


@pytest.mark.parametrize(
    ("form", "data", "rows", "parts"),
    [
        (InputForm.SPLIT, {"columns": ["x"], "data": [[1]] * 5}, 5, 3),
        (InputForm.RECORDS, [{"x": 1}] * 5, 5, 3),
        (InputForm.INSTANCES, [[1]] * 5, 5, 3),
        (InputForm.CSV, "x\n1\n2\n3\n4\n5\n", 5, 3),
        (InputForm.CSV, 'x\n"1"\n2\n3\n4\n5\n', 5, 1),  # quoted: never split by lines
        (InputForm.SPLIT, {"columns": ["x"], "data": [[1]] * 5, "index": list(range(5))}, 5, 1),
        (InputForm.INPUTS, {"x": [1, 2, 3]}, 1, 1),
    ],
)
def test_rows_and_parts_of_each_form(form: InputForm, data: Any, rows: int, parts: int) -> None:
    request = PredictRequest(1, "default", 0.0, form, data)
    assert request_rows(request) == rows
    found = chunks(request, rows, 2)
    assert len(found) == parts
    assert sum(payload_rows(form, part) for part in found) == rows or parts == 1


def deep(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = [value]
    return value


def test_keys_never_raise_and_hostile_input_is_simply_not_merged() -> None:
    """The first door of issue 8: nested column names made key comparison recurse."""
    hostile = PredictRequest(
        1, "default", 0.0, InputForm.SPLIT, {"columns": [deep(1000)], "data": [[1]]}
    )
    assert batch_key(hostile) is None
    params = PredictRequest(1, "default", 0.0, InputForm.RECORDS, [{"x": 1}], {"p": deep(300)})
    assert batch_key(params) is None
    same = [batch_key(split(1)), batch_key(split(2, 3))]
    assert same[0] == same[1] and isinstance(same[0], bytes)
    other_params = PredictRequest(
        0, "default", 0.0, InputForm.SPLIT, {"columns": ["x"], "data": [[1]]}, {"a": 1}
    )
    assert batch_key(other_params) != same[0]


def test_domain_errors_keep_their_code() -> None:
    class Strict(Doubler):
        def predict(self, form: InputForm, data: Any, params: dict[str, Any] | None) -> Any:
            raise BadRequest("no such column")

    (outcome,) = execute(Strict(), pendings(split(1)))
    assert isinstance(outcome, WarmserveError) and outcome.error_code == "BAD_REQUEST"


@pytest.mark.parametrize(
    ("form", "data"),
    [
        (InputForm.SPLIT, {"columns": ["x"], "data": []}),  # no rows
        (InputForm.SPLIT, {"columns": ["x"], "data": [[1]], "index": [0]}),  # an index
        (InputForm.RECORDS, [[1]]),  # not records
        (InputForm.RECORDS, [{"x": 1}, {"y": 1}]),  # records of different keys
        (InputForm.RECORDS, [{"x": 1}, {"x": 2, "y": 1}]),
        (InputForm.INSTANCES, [[1]]),
        (InputForm.CSV, "x\n1\n"),
    ],
)
def test_requests_that_cannot_share_a_frame_have_no_batch_key(form: InputForm, data: Any) -> None:
    assert batch_key(PredictRequest(1, "default", 0.0, form, data)) is None

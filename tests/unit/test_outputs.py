"""A model's raw output: rows counted, split between requests, parts joined, encoded."""

from __future__ import annotations

import datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from warmserve.protocol import OutputForm
from warmserve.runtime import outputs


@pytest.mark.parametrize(
    ("output", "rows"),
    [
        (np.zeros((3, 2)), 3),
        (pd.DataFrame({"y": [1, 2]}), 2),
        (pd.Series([1, 2, 3, 4]), 4),
        ([1, 2], 2),
        (np.float64(1.0), None),  # a numpy scalar has a shape of ()
        ({"y": [1, 2]}, None),  # a dict's keys need not be rows
        ("text", None),
    ],
)
def test_row_count(output: Any, rows: int | None) -> None:
    assert outputs.row_count(output) == rows


def test_split_gives_each_request_its_rows_of_the_same_type() -> None:
    frame = pd.DataFrame({"y": [1, 2, 3]})
    first, second = outputs.split(frame, [1, 2])  # type: ignore[misc]
    assert list(first["y"]) == [1] and list(second["y"]) == [2, 3]
    assert outputs.split([1, 2, 3], [2, 1]) == [[1, 2], [3]]
    assert outputs.split(np.arange(3), [1, 1]) is None  # not row-aligned with the batch


@pytest.mark.parametrize(
    ("parts", "joined"),
    [
        ([[1], [2, 3]], [1, 2, 3]),
        ([np.array([1]), np.array([2, 3])], [1, 2, 3]),
        ([pd.Series([1]), pd.Series([2, 3])], [{"0": 1}, {"0": 2}, {"0": 3}]),
        ([pd.DataFrame({"y": [1]}), pd.DataFrame({"y": [2, 3]})], [{"y": 1}, {"y": 2}, {"y": 3}]),
        ([np.array([7])], [7]),
    ],
)
def test_join_concatenates_the_parts_of_a_chunked_request(parts: list[Any], joined: Any) -> None:
    assert orjson.loads(outputs.encode(outputs.join(parts), OutputForm.MLFLOW_JSON)) == joined


def test_parts_of_an_unknown_type_cannot_be_joined() -> None:
    with pytest.raises(ValueError, match="cannot join outputs of type tuple"):
        outputs.join([(1,), (2,)])


def test_json_of_numpy_scalars_dates_and_bytes() -> None:
    value = [np.int64(3), datetime.date(2026, 1, 2), b"\x00\x01"]
    assert orjson.loads(outputs.dumps(value)) == [3, "2026-01-02", "AAE="]
    with pytest.raises(TypeError, match="object"):
        outputs.dumps([object()])


@pytest.mark.parametrize(
    "output",
    [pd.Series([1, 2]), pd.DataFrame(np.eye(2)), pd.DataFrame({"y": [1.5]}), np.array([[1, 2]])],
    ids=["unnamed series", "frame with integer labels", "frame", "array"],
)
def test_outputs_are_encoded_as_mlflow_models_serve_encodes_them(output: Any) -> None:
    """The scoring server writes its JSON-able output with json.dumps: integer keys
    become strings (orjson alone refuses them, so such a model never served)."""
    import json

    from warmserve.runtime import mlflow_compat

    expected = json.loads(json.dumps(mlflow_compat.jsonable(output)))
    assert orjson.loads(outputs.encode(output, OutputForm.MLFLOW_JSON)) == expected

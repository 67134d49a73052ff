"""The int32 guard: MLflow silently wraps an out-of-range value in an ``integer`` column
around (2**40 becomes 0); warmserve refuses it, in every form that names columns."""

from __future__ import annotations

from typing import Any

import pytest

from warmserve.protocol import InputForm
from warmserve.runtime.predictors.scoring_input import out_of_int32

BIG = 2**40


@pytest.mark.parametrize(
    ("form", "data"),
    [
        (InputForm.SPLIT, {"columns": ["s", "i"], "data": [["a", 1], ["b", BIG]]}),
        (InputForm.RECORDS, [{"i": 1}, {"i": BIG}]),
        (InputForm.INSTANCES, [{"i": -BIG}]),
        (InputForm.INPUTS, {"i": [1, BIG]}),
        (InputForm.INPUTS, {"i": float(BIG)}),
    ],
)
def test_out_of_range_values_are_found(form: InputForm, data: Any) -> None:
    assert next(out_of_int32(("i",), form, data))[0] == "i"


@pytest.mark.parametrize(
    ("form", "data"),
    [
        (InputForm.SPLIT, {"columns": ["i"], "data": [[2**31 - 1], [-(2**31)], [None]]}),
        (InputForm.RECORDS, [{"i": 5, "other": BIG}]),
        (InputForm.INPUTS, {"i": [float("nan"), "x", True]}),
        (InputForm.SPLIT, {"data": [[BIG]]}),  # no names: the signature check decides
    ],
)
def test_values_in_range_and_other_columns_pass(form: InputForm, data: Any) -> None:
    assert next(out_of_int32(("i",), form, data), None) is None

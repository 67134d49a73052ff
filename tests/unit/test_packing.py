"""Large numeric requests cross to the model process packed as float64, and every path reads
the packed form as it reads the JSON one."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from warmserve.http.codecs import ModelInput
from warmserve.http.packing import PACK_AT_ROWS, pack
from warmserve.protocol import InputForm, PredictorInfo, PredictRequest, ServedModel
from warmserve.runtime.batch import chunks, payload_rows
from warmserve.runtime.predictors.numeric import numeric_matrix, numeric_row_count

COLUMNS = ["a", "b", "c"]
SIGNATURE = {"inputs": [{"type": "double", "name": c, "required": True} for c in COLUMNS]}


def served(predictor: str = "numeric-frame") -> ServedModel:
    return ServedModel(version="1", signature=SIGNATURE, predictor=PredictorInfo(predictor))


def rows(n: int) -> list[list[Any]]:
    return [[i, i + 0.5, -i] for i in range(n)]


def split(data: list[list[Any]], **extra: Any) -> ModelInput:
    return ModelInput(InputForm.SPLIT, {"columns": COLUMNS, "data": data, **extra})


def test_a_large_numeric_split_is_packed_and_reads_back_as_the_same_rows() -> None:
    data = rows(PACK_AT_ROWS)
    packed = pack(split(data), served())
    assert packed.form is InputForm.MATRIX
    matrix = numeric_matrix(tuple(COLUMNS), packed.form, packed.data)
    np.testing.assert_array_equal(matrix, np.array(data, dtype=np.float64))
    assert numeric_row_count(packed.form, packed.data) == PACK_AT_ROWS


def test_records_are_packed_in_signature_order() -> None:
    records = [{"c": -i, "a": i, "b": i + 0.5} for i in range(PACK_AT_ROWS)]
    packed = pack(ModelInput(InputForm.RECORDS, records), served("compiled-linear"))
    assert packed.form is InputForm.MATRIX
    matrix = numeric_matrix(tuple(COLUMNS), packed.form, packed.data)
    np.testing.assert_array_equal(matrix, np.array(rows(PACK_AT_ROWS), dtype=np.float64))


@pytest.mark.parametrize(
    ("model_input", "model"),
    [
        (split(rows(PACK_AT_ROWS - 1)), served()),  # small: keeps merging into batches
        (split(rows(PACK_AT_ROWS)), served("pyfunc")),  # not a numeric path
        (split([*rows(PACK_AT_ROWS - 1), [True, 1, 2]]), served()),  # a bool: MLflow's rules
        (split([*rows(PACK_AT_ROWS - 1), [None, 1, 2]]), served()),
        (split([*rows(PACK_AT_ROWS - 1), ["x", 1, 2]]), served()),
        (split([*rows(PACK_AT_ROWS - 1), [1, 2]]), served()),  # a short row
        (split(rows(PACK_AT_ROWS), index=list(range(PACK_AT_ROWS))), served()),
        (ModelInput(InputForm.SPLIT, {"columns": ["b", "a", "c"], "data": rows(300)}), served()),
        (ModelInput(InputForm.SPLIT, {"columns": COLUMNS, "data": rows(300)}, {"p": 1}), served()),
        (ModelInput(InputForm.SPLIT, {"columns": COLUMNS, "data": rows(300)}, cacheable=False),
         served()),  # parsed by the exact parser (NaN, huge integers)
        (ModelInput(InputForm.RECORDS, [{"a": 1, "b": 2}] * 300), served()),  # a missing column
    ],
)  # fmt: skip
def test_anything_else_keeps_its_json_form(model_input: ModelInput, model: ServedModel) -> None:
    assert pack(model_input, model) is model_input


def test_a_packed_request_is_predicted_in_parts_of_views() -> None:
    packed = pack(split(rows(1000)), served())
    request = PredictRequest(1, "default", 0.0, packed.form, packed.data)
    assert payload_rows(packed.form, packed.data) == 1000
    parts = chunks(request, 1000, 300)
    assert [part["rows"] for part in parts] == [300, 300, 300, 100]
    joined = np.vstack([numeric_matrix(tuple(COLUMNS), InputForm.MATRIX, p) for p in parts])
    np.testing.assert_array_equal(joined, np.array(rows(1000), dtype=np.float64))

"""The numeric fast path must give exactly what MLflow's own path gives, and step
aside (to the same errors) for anything it does not handle."""

from __future__ import annotations

from pathlib import Path

import pytest

from warmserve.protocol import PredictRequest
from warmserve.registry import connect, resolve
from warmserve.runtime.fastpath import fast_predict, numeric_rows
from warmserve.runtime.model import LoadedModel, load_model
from warmserve.runtime.predict import predict_batch
from warmserve.settings import Settings
from warmserve.training import train_synthetic

COLUMNS = tuple(f"f{i}" for i in range(20))


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    settings = Settings(home=tmp_path_factory.mktemp("fastpath") / "home")
    train_synthetic(settings, name="fp", estimator="logistic", n_rows=300, promote="production")
    return load_model(resolve("models:/fp@production", connect(settings)))


def both_paths(model: LoadedModel, requests: list[PredictRequest]) -> tuple[list, list]:
    fast = predict_batch(model, requests)
    columns, model.numeric_columns = model.numeric_columns, None
    try:
        slow = predict_batch(model, requests)
    finally:
        model.numeric_columns = columns
    return fast, slow


def row(i: int) -> list[float | int]:
    return [0.1 * ((i + j) % 9) - 0.4 if j % 3 else (i + j) % 4 for j in range(20)]


def test_qualifying_model_and_identical_predictions(model: LoadedModel) -> None:
    assert model.numeric_columns == COLUMNS
    split = [PredictRequest(i, 0, "split", {"columns": list(COLUMNS), "data": [row(i)]}, None)
             for i in range(12)]  # fmt: skip
    records = [PredictRequest(i, 0, "records", [dict(zip(COLUMNS, row(i), strict=True))] * 2,
                              None) for i in range(5)]  # fmt: skip
    for requests in (split, records, split[:1]):
        fast, slow = both_paths(model, requests)
        assert fast == slow
        assert all(isinstance(outcome, bytes) for outcome in fast)
    assert fast_predict(model, "split", split[0].data, None) is not NotImplemented


BAD = {
    "a string": {"columns": list(COLUMNS), "data": [["wide", *row(0)[1:]]]},
    "a bool": {"columns": list(COLUMNS), "data": [[True, *row(0)[1:]]]},
    "a null": {"columns": list(COLUMNS), "data": [[None, *row(0)[1:]]]},
    "a short row": {"columns": list(COLUMNS), "data": [row(0)[:19]]},
    "other column order": {"columns": list(reversed(COLUMNS)), "data": [row(0)]},
    "no columns": {"data": [row(0)]},
    "an index": {"columns": list(COLUMNS), "data": [row(0)], "index": [7]},
}


@pytest.mark.parametrize("case", list(BAD))
def test_anything_else_takes_mlflows_path_with_the_same_outcome(
    model: LoadedModel, case: str
) -> None:
    data = BAD[case]
    assert fast_predict(model, "split", data, None) is NotImplemented
    fast, slow = both_paths(model, [PredictRequest(1, 0, "split", data, None)])
    assert type(fast[0]) is type(slow[0])
    assert str(fast[0]) == str(slow[0])


def test_records_with_missing_or_extra_keys_and_params_step_aside(model: LoadedModel) -> None:
    full = dict(zip(COLUMNS, row(1), strict=True))
    missing = {k: v for k, v in full.items() if k != "f3"}
    assert fast_predict(model, "records", [missing], None) is NotImplemented
    assert fast_predict(model, "records", [{**full, "extra": 1.0}], None) is NotImplemented
    assert fast_predict(model, "records", [full], {"threshold": 0.5}) is NotImplemented
    assert fast_predict(model, "instances", [full], None) is NotImplemented


def test_numeric_rows_is_pure() -> None:
    cols = ("a", "b")
    assert numeric_rows(cols, "split", {"columns": ["a", "b"], "data": [[1, 2.5]]}) == [[1, 2.5]]
    assert numeric_rows(cols, "records", [{"b": 2, "a": 1}]) == [[1, 2]]
    assert numeric_rows(cols, "records", [{"a": 1}]) is None
    assert numeric_rows(cols, "split", {"columns": ["a", "b"], "data": [[1, "2"]]}) is None


def test_models_with_other_column_types_do_not_qualify(tmp_path: Path) -> None:
    import pandas as pd

    from warmserve.training import train_and_register

    data = tmp_path / "mixed.csv"
    pd.DataFrame({"plan": ["a", "b"] * 20, "n": list(range(40)), "y": [0, 1] * 20}).to_csv(
        data, index=False
    )
    settings = Settings(home=tmp_path / "home")
    train_and_register(settings, name="mixed", data=data, target="y", promote="production")
    loaded = load_model(resolve("models:/mixed@production", connect(settings)))
    assert loaded.numeric_columns is None

"""Predictor strategies on real MLflow models saved in a tmp dir: the numeric frame path
gives exactly what MLflow's pyfunc path gives, and steps aside to it, with the same
outcome, for anything it does not handle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import NUMERIC_COLUMNS
from fakes import pendings
from warmserve.protocol import InputForm, PredictRequest
from warmserve.registry import ModelVersion
from warmserve.runtime import mlflow_compat
from warmserve.runtime.batch import Outcome, execute
from warmserve.runtime.model import LoadedModel, load_model
from warmserve.runtime.predictors.numeric import NumericFramePredictor, numeric_rows
from warmserve.runtime.predictors.pyfunc import PyfuncPredictor


def local(path: Path) -> ModelVersion:
    return ModelVersion(
        source=str(path), load_uri=str(path), name="m", version="1", alias=None, run_id=None
    )


@pytest.fixture(scope="module")
def numeric(numeric_model_dir: Path) -> LoadedModel:
    # the compiled paths off: these tests are about the numeric-frame path (a logistic
    # regression would otherwise serve through compiled-linear, tests/unit/test_linear.py)
    return load_model(local(numeric_model_dir), compiled_models=False)


@pytest.fixture(scope="module")
def pyfunc(numeric: LoadedModel) -> PyfuncPredictor:
    return PyfuncPredictor(numeric.pyfunc, numeric.pyfunc.metadata.get_input_schema())


def row(i: int) -> list[float | int]:
    """Floats and ints mixed, as JSON clients send them."""
    return [0.1 * ((i + j) % 9) - 0.4 if j % 3 else (i + j) % 4 for j in range(20)]


def split(i: int, **extra: Any) -> PredictRequest:
    data = {"columns": list(NUMERIC_COLUMNS), "data": [row(i)], **extra}
    return PredictRequest(i, "default", 1e12, InputForm.SPLIT, data)


def records(i: int, count: int = 2) -> PredictRequest:
    rows = [dict(zip(NUMERIC_COLUMNS, row(i + k), strict=True)) for k in range(count)]
    return PredictRequest(i, "default", 1e12, InputForm.RECORDS, rows)


def both(numeric: LoadedModel, pyfunc: PyfuncPredictor, *requests: PredictRequest) -> Any:
    fast: list[Outcome] = execute(numeric.predictor, pendings(*requests))
    slow: list[Outcome] = execute(pyfunc, pendings(*requests))
    return fast, slow


def test_a_numeric_model_serves_through_the_numeric_frame_path(numeric: LoadedModel) -> None:
    assert numeric.predictor.name == "numeric-frame"
    assert isinstance(numeric.predictor, NumericFramePredictor)
    assert numeric.predictor.columns == NUMERIC_COLUMNS
    info = numeric.served.predictor
    assert info is not None and info.name == "numeric-frame"
    assert "numeric-frame" not in info.declined and info.detail["columns"] == 20
    assert numeric.served.input_example["dataframe_split"]["columns"] == list(NUMERIC_COLUMNS)


@pytest.mark.parametrize(
    "requests",
    [
        [split(i) for i in range(12)],  # merged into one frame
        [split(0)],
        [records(i) for i in range(5)],
        [records(0, count=1)],
    ],
    ids=["split batch", "one split", "records batch", "one record"],
)
def test_the_numeric_path_gives_exactly_what_pyfunc_gives(
    numeric: LoadedModel, pyfunc: PyfuncPredictor, requests: list[PredictRequest]
) -> None:
    columns = NUMERIC_COLUMNS
    assert all(numeric_rows(columns, r.form, r.data) is not None for r in requests)
    fast, slow = both(numeric, pyfunc, *requests)
    assert all(isinstance(outcome, bytes) for outcome in fast)
    assert fast == slow


FULL = dict(zip(NUMERIC_COLUMNS, row(1), strict=True))
COLUMNS = list(NUMERIC_COLUMNS)
CSV = ",".join(COLUMNS) + "\n" + ",".join(map(str, row(0))) + "\n"
BAD: dict[str, tuple[InputForm, Any, dict[str, Any] | None]] = {
    "a string": (InputForm.SPLIT, {"columns": COLUMNS, "data": [["wide", *row(0)[1:]]]}, None),
    "a bool": (InputForm.SPLIT, {"columns": COLUMNS, "data": [[True, *row(0)[1:]]]}, None),
    "a null": (InputForm.SPLIT, {"columns": COLUMNS, "data": [[None, *row(0)[1:]]]}, None),
    "a short row": (InputForm.SPLIT, {"columns": COLUMNS, "data": [row(0)[:19]]}, None),
    "other order": (InputForm.SPLIT, {"columns": COLUMNS[::-1], "data": [row(0)]}, None),
    "no columns": (InputForm.SPLIT, {"data": [row(0)]}, None),
    "an index": (InputForm.SPLIT, {"columns": COLUMNS, "data": [row(0)], "index": [7]}, None),
    "a missing key": (InputForm.RECORDS, [{k: v for k, v in FULL.items() if k != "f3"}], None),
    "an extra key": (InputForm.RECORDS, [{**FULL, "extra": 1.0}], None),
    "params": (InputForm.RECORDS, [FULL], {"threshold": 0.5}),
    "instances": (InputForm.INSTANCES, [FULL], None),
    "CSV": (InputForm.CSV, CSV, None),
}


@pytest.mark.parametrize("case", list(BAD))
def test_anything_else_takes_mlflows_path_with_the_same_outcome(
    numeric: LoadedModel, pyfunc: PyfuncPredictor, case: str
) -> None:
    form, data, params = BAD[case]
    assert params or numeric_rows(NUMERIC_COLUMNS, form, data) is None
    request = PredictRequest(1, "default", 1e12, form, data, params)
    fast, slow = both(numeric, pyfunc, request)
    assert type(fast[0]) is type(slow[0])
    assert str(fast[0]) == str(slow[0])


def test_numeric_rows_is_pure() -> None:
    cols = ("a", "b")
    assert numeric_rows(cols, InputForm.SPLIT, {"columns": ["a", "b"], "data": [[1, 2.5]]}) == [
        [1, 2.5]
    ]
    assert numeric_rows(cols, InputForm.RECORDS, [{"b": 2, "a": 1}]) == [[1, 2]]
    assert numeric_rows(cols, InputForm.RECORDS, [{"a": 1}]) is None
    assert numeric_rows(cols, InputForm.RECORDS, [1]) is None
    assert numeric_rows(cols, InputForm.SPLIT, {"columns": ["a", "b"], "data": [[1, "2"]]}) is None
    assert numeric_rows(cols, InputForm.SPLIT, {"columns": ["a", "b"], "data": [(1, 2)]}) is None


def test_a_model_with_a_string_column_serves_through_pyfunc_and_says_why(
    mixed_model_dir: Path,
) -> None:
    loaded = load_model(local(mixed_model_dir))
    assert loaded.predictor.name == "pyfunc"
    info = loaded.served.predictor
    assert info is not None and info.name == "pyfunc"
    assert info.declined["numeric-frame"] == "not every input column is a required double"
    data = {"columns": ["plan", "n"], "data": [["b", 3.0]]}
    request = PredictRequest(1, "default", 1e12, InputForm.SPLIT, data)
    (outcome,) = execute(loaded.predictor, pendings(request))
    assert outcome in (b"[0]", b"[1]")


def test_a_predictor_that_fails_its_warm_up_falls_back_to_pyfunc(
    numeric_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_flavor(frame: Any) -> Any:
        raise ValueError("the flavor's own predict failed")

    monkeypatch.setattr(mlflow_compat, "flavor_predict_fn", lambda pyfunc: broken_flavor)
    loaded = load_model(local(numeric_model_dir), compiled_models=False)
    assert isinstance(loaded.predictor, PyfuncPredictor)
    info = loaded.served.predictor
    assert info is not None and info.name == "pyfunc"
    assert info.declined["numeric-frame"].startswith("warm-up failed: ValueError(")
    (outcome,) = execute(loaded.predictor, pendings(split(0)))
    assert isinstance(outcome, bytes)


def test_a_flavor_without_its_own_predict_declines_the_numeric_path(
    numeric_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mlflow_compat, "flavor_predict_fn", lambda pyfunc: None)
    loaded = load_model(local(numeric_model_dir), compiled_models=False)
    assert loaded.served.predictor is not None
    declined = loaded.served.predictor.declined
    assert declined["numeric-frame"] == "the flavor exposes no predict function"


def test_the_last_strategy_must_never_decline() -> None:
    from warmserve.runtime.predictors import Declined, Strategy, choose_predictor

    def declines(context: Any, fallback: Any) -> Any:
        raise Declined("not this one")

    def leans_on_its_fallback(context: Any, fallback: Any) -> Any:
        return fallback  # a strategy whose inputs all go one level down

    with pytest.raises(RuntimeError, match="no predictor strategy applies"):
        choose_predictor(None, (Strategy("a", declines),))  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="no predictor strategy applies"):
        choose_predictor(None, (Strategy("a", leans_on_its_fallback),))  # type: ignore[arg-type]

"""The compiled-tree predictor through a real server: chosen at load, shown at /model,
and answering exactly what the library's own predict answers (small and big batches)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support import Server, cli

ROWS = [
    {"sepal_length_cm": 5.1 + 0.1 * i, "sepal_width_cm": 3.5 - 0.05 * i,
     "petal_length_cm": 1.4 + 0.2 * i, "petal_width_cm": 0.2 + 0.1 * i}
    for i in range(100)
]  # fmt: skip


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    home = tmp_path_factory.mktemp("compiled") / "home"
    cli(home, "train", "--dataset", "iris", "--name", "rf", "--estimator", "random_forest",
        "--n-estimators", "30", "--promote", "production")  # fmt: skip
    compiled = Server(home, "--model", "models:/rf@production")
    library = Server(home, "--model", "models:/rf@production", "--compiled-models", "false")
    try:
        compiled.wait_ready()
        library.wait_ready()
        yield compiled, library
    finally:
        compiled.stop()
        library.stop()


def test_model_shows_the_compiled_predictor_and_its_verification(
    servers: tuple[Server, Server],
) -> None:
    compiled, library = servers
    predictor = compiled.client.get("/model").json()["model"]["predictor"]
    assert predictor["name"] == "compiled-trees"
    assert predictor["detail"]["backend"] == "treelite"
    assert predictor["detail"]["verification"]["ok"] is True
    assert predictor["detail"]["verification"]["rows_checked"] > 1000
    assert predictor["detail"]["threads"]["pools"] is not None
    other = library.client.get("/model").json()["model"]["predictor"]
    assert other["name"] == "numeric-frame"
    assert "compiled_models=false" in other["declined"]["compiled-trees"]


@pytest.mark.parametrize("rows", [1, 5, 100])
def test_answers_equal_the_librarys_own_predict(servers: tuple[Server, Server], rows: int) -> None:
    compiled, library = servers
    body = {"dataframe_records": ROWS[:rows]}
    fast = compiled.client.post("/invocations", json=body)
    slow = library.client.post("/invocations", json=body)
    assert fast.status_code == slow.status_code == 200
    assert fast.json() == slow.json()


@pytest.mark.parametrize("rows", [300, 2500])
def test_large_requests_cross_packed_and_answer_as_the_model_in_process(
    servers: tuple[Server, Server], rows: int
) -> None:
    """Above 256 numeric rows the worker packs them as float64 (http/packing.py) and the
    runner predicts them in parts; the answer is the model's own, row for row."""
    import mlflow.pyfunc
    import pandas as pd

    from warmserve.registry import connect
    from warmserve.settings import Settings

    compiled, _ = servers
    big = [dict(ROWS[i % len(ROWS)], sepal_length_cm=4.0 + i / rows) for i in range(rows)]
    columns = list(big[0])
    body = {"dataframe_split": {"columns": columns, "data": [list(r.values()) for r in big]}}
    answer = compiled.client.post("/invocations", json=body)
    assert answer.status_code == 200, answer.text
    connect(Settings(home=compiled.home))
    model = mlflow.pyfunc.load_model("models:/rf@production")
    expected = model.predict(pd.DataFrame(big, columns=columns)).tolist()
    assert answer.json() == {"predictions": expected}

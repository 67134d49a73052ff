"""The network path: `warmserve train` and `warmserve serve` both against a real `mlflow server`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support import IRIS_ROW, MlflowServer, Server, cli


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    yield server
    server.stop()


def test_train_and_serve_through_a_real_mlflow_server(
    mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    trained = cli(
        home,
        "train", "--dataset", "iris", "--name", "iris-remote", "--promote", "production",
        "--tracking-uri", mlflow_server.url,
    )  # fmt: skip
    assert "iris-remote version 1" in trained.stdout
    # nothing was written to the embedded registry: the server holds it all
    assert not (home / "mlflow.db").exists()
    server = Server(
        home,
        "--model", "models:/iris-remote@production",
        env={"MLFLOW_TRACKING_URI": mlflow_server.url},
    )  # fmt: skip
    try:
        server.wait_ready()
        response = server.client.post("/invocations", json={"dataframe_records": [IRIS_ROW]})
        assert response.status_code == 200, response.text
        assert response.json() == {"predictions": [0]}
        assert server.client.get("/model").json()["model"]["version"] == "1"
    finally:
        assert server.stop() == 0

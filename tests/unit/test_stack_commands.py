"""What `warmserve stack` hands its parts: commands and environments, no processes."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from warmserve import errors
from warmserve.settings import Settings
from warmserve.stack.mlflow_server import mlflow_command, mlflow_env
from warmserve.stack.runner import Stack, child_env


def test_mlflow_defaults_live_under_home(tmp_path: Path) -> None:
    command = mlflow_command(Settings(home=tmp_path), 5123)
    joined = " ".join(command)
    assert f"--backend-store-uri sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}" in joined
    assert f"--artifacts-destination {tmp_path / 'mlflow' / 'artifacts'}" in joined
    assert "--port 5123" in joined and "--allowed-hosts" not in joined
    assert mlflow_env({})["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"


def test_mlflow_with_postgres_and_allowed_hosts(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        mlflow_backend_store_uri="postgresql+psycopg2://u:p@db/mlflow",
        mlflow_allowed_hosts="mlflow,mlflow:5000",
    )
    command = mlflow_command(settings, 5000)
    assert command[command.index("--backend-store-uri") + 1].startswith("postgresql+psycopg2")
    assert command[command.index("--allowed-hosts") + 1] == "mlflow,mlflow:5000"


def test_children_get_the_settings_given_to_the_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://elsewhere:5000")
    settings = Settings(home=tmp_path, workers=3, admin_token=SecretStr("t"), trainer_name="m")
    env = child_env(settings, Settings.model_fields, WARMSERVE_PORT="8123")
    assert env["WARMSERVE_WORKERS"] == "3" and env["WARMSERVE_ADMIN_TOKEN"] == "t"
    assert env["WARMSERVE_TRAINER_NAME"] == "m" and env["WARMSERVE_PORT"] == "8123"
    assert "MLFLOW_TRACKING_URI" not in env  # the stack's own MLflow server, nothing else


def test_the_stack_wires_api_and_trainer_to_its_mlflow(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path, trainer_name="churn", trainer_target="y", port=8001,
        trainer_port=8101, mlflow_port=5001,
    )  # fmt: skip
    mlflow, api, trainer = Stack(settings).parts
    assert [p.name for p in (mlflow, api, trainer)] == ["mlflow", "api", "trainer"]
    assert api.env["WARMSERVE_MODEL"] == "models:/churn@production"
    assert api.env["WARMSERVE_TRACKING_URI"] == "http://127.0.0.1:5001"
    assert trainer.env["WARMSERVE_TRACKING_URI"] == "http://127.0.0.1:5001"
    assert trainer.env["WARMSERVE_TRAINER_NOTIFY"] == "http://127.0.0.1:8001"
    assert api.health_url.endswith(":8001/health/live")
    assert trainer.health_url.endswith(":8101/health/ready")
    with pytest.raises(errors.BadRequest, match="--name and --target"):
        Stack(Settings(home=tmp_path))

"""Hot reload: follow the alias and swap versions with zero failed requests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from support import (
    MODELS,
    Load,
    MlflowServer,
    Server,
    register_code_model,
    register_recorder,
    wait_until,
)
from warmserve.registry import connect
from warmserve.settings import Settings

POLL = ["--poll-interval", "0.3", "--load-retry-interval", "0.3"]


def register_broken(settings: Settings, name: str) -> str:
    """A version that loads but fails its warm-up prediction."""
    return register_code_model(
        settings, name, MODELS / "broken.py", input_example=pd.DataFrame({"x": [1.0]}), alias=None
    )


def move_alias(settings: Settings, name: str, version: str) -> None:
    connect(settings).set_registered_model_alias(name, "production", version)


def served(server: Server) -> dict[str, object]:
    return server.client.get("/model").json()


def test_alias_moves_under_steady_load_with_zero_failed_requests(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home)
    register_recorder(settings, "swap")
    server = Server(home, "--model", "models:/swap@production", "--workers", "2", *POLL)
    try:
        server.wait_ready()
        load = Load(server.url, {"dataframe_records": [{"x": 1.0}]})
        pointed = ["1"]
        for step in ("new", "new", "broken", "rollback", "new"):
            mark = load.count()
            if step == "new":
                version = register_recorder(settings, "swap", alias=None)
            elif step == "rollback":
                version = "1"
            else:
                version = register_broken(settings, "swap")
            move_alias(settings, "swap", version)
            if step == "broken":

                def refused(version: str = version) -> bool:
                    failure = served(server).get("last_failure") or {}
                    return isinstance(failure, dict) and failure.get("version") == version

                wait_until(refused, 120, what="the broken version to be refused")
                model = served(server)["model"]
                assert isinstance(model, dict) and model["version"] == pointed[-1]
            else:
                pointed.append(version)
                server.wait_version(version, 120)
            wait_until(lambda mark=mark: load.count() > mark + 20, what="traffic after the step")
        results = load.finish()
    finally:
        assert server.stop() == 0
    failed = [r for r in results if r.status != 200]
    assert failed == [], failed[:5]
    versions = {r.version for r in results}
    assert versions <= set(pointed), (versions, pointed)
    assert len(versions) >= 3  # the stream really spanned the swaps
    assert "this version is broken" in server.log()


def test_start_empty_then_reload_wait_serves_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    server = Server(
        home, "--model", "models:/later@production",
        "--poll-interval", "0", "--load-retry-interval", "3600",
    )  # fmt: skip
    try:
        wait_until(lambda: "model is not available" in server.log(), what="first failed check")
        assert server.client.get("/health/ready").status_code == 503
        failed = server.client.post("/reload", params={"wait": "true"}).json()
        assert failed["version"] is None and "later" in failed["error"]
        register_recorder(Settings(home=home), "later")
        answer = server.client.post("/reload", params={"wait": "true"})
        assert answer.status_code == 200
        assert answer.json() == {"version": "1", "error": None}
        assert server.client.get("/health/ready").status_code == 200
        log = server.log()
        assert log.count("model reload request received") == 2
        assert log.count("model is not available") >= 2
    finally:
        server.stop()


@pytest.fixture
def corrupt_then_good(tmp_path: Path) -> Iterator[tuple[Server, Settings]]:
    home = tmp_path / "home"
    settings = Settings(home=home)
    register_recorder(settings, "fragile")
    server = Server(home, "--model", "models:/fragile@production", "--poll-interval", "0")
    server.wait_ready()
    yield server, settings
    server.stop()


def test_corrupt_artifact_is_kept_out_and_retried_on_request(
    corrupt_then_good: tuple[Server, Settings],
) -> None:
    server, settings = corrupt_then_good
    version = register_recorder(settings, "fragile", alias=None)
    client = connect(settings)
    source = client.get_model_version("fragile", version).source
    artifacts = settings.artifact_root()
    mlmodel = [p for p in artifacts.rglob("MLmodel") if source.split("/")[-1] in str(p)]
    assert mlmodel, (source, list(artifacts.rglob("MLmodel")))
    mlmodel[0].write_text("this: [is not an mlflow model")
    move_alias(settings, "fragile", version)

    answer = server.client.post("/reload", params={"wait": "true"}).json()
    assert answer["version"] == "1" and answer["error"]
    model = served(server)
    failure = model["last_failure"]
    assert isinstance(failure, dict) and failure["version"] == version
    assert failure["attempts"] == 1 and failure["time"]
    assert server.client.get("/health/ready").status_code == 200
    ok = server.client.post("/invocations", json={"dataframe_records": [{"x": 1.0}]})
    assert ok.status_code == 200 and ok.headers["x-model-version"] == "1"

    again = server.client.post("/reload", params={"wait": "true"}).json()
    assert again["version"] == "1"
    failure = served(server)["last_failure"]
    assert isinstance(failure, dict) and failure["attempts"] == 2

    fixed = register_recorder(settings, "fragile")  # the next version loads
    assert server.client.post("/reload", params={"wait": "true"}).json() == {
        "version": fixed,
        "error": None,
    }
    assert served(server)["last_failure"] is None


def test_deleted_alias_keeps_the_last_good_version(
    corrupt_then_good: tuple[Server, Settings],
) -> None:
    server, settings = corrupt_then_good
    connect(settings).delete_registered_model_alias("fragile", "production")
    answer = server.client.post("/reload", params={"wait": "true"}).json()
    assert answer["version"] == "1" and "production" in answer["error"]
    model = served(server)
    assert model["ready"] is True
    assert "production" in str(model["source_missing"])
    assert server.client.post("/predict", json={"x": 2.0}).json()["predictions"] == [{"y": 4.0}]


def test_registry_down_and_back(tmp_path: Path) -> None:
    registry = MlflowServer(tmp_path / "mlflow")
    settings = Settings(home=tmp_path / "home", tracking_uri=registry.url)
    try:
        register_recorder(settings, "remote")
        server = Server(
            tmp_path / "home", "--model", "models:/remote@production", *POLL,
            env={"WARMSERVE_TRACKING_URI": registry.url},
        )  # fmt: skip
        try:
            server.wait_ready()
            registry.stop()
            wait_until(lambda: served(server)["registry_error"], 120, what="the outage noticed")
            checks = served(server)["checks"]
            assert isinstance(checks, int)
            wait_until(lambda: served(server)["checks"] >= checks + 3, 120, what="more polls")
            assert server.client.get("/health/ready").status_code == 200
            ok = server.client.post("/predict", json={"x": 1.0})
            assert ok.status_code == 200 and ok.headers["x-model-version"] == "1"
            assert server.log().count("registry unreachable") == 1  # warned once per outage

            registry.start()
            wait_until(lambda: served(server)["registry_error"] is None, 120, what="recovery")
            assert "registry reachable again" in server.log()
            version = register_recorder(settings, "remote")
            server.wait_version(version, 120)
        finally:
            assert server.stop() == 0
    finally:
        registry.stop()


def test_admin_token_protects_reload(tmp_path: Path) -> None:
    server = Server(
        tmp_path / "home", "--model", "models:/none@production",
        env={"WARMSERVE_ADMIN_TOKEN": "s3cret"},
    )  # fmt: skip
    try:
        wait_until(lambda: served(server)["runner"], what="the model process to answer")
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            response = server.client.post("/reload", headers=headers)
            assert response.status_code == 401
            assert response.json()["error_code"] == "UNAUTHORIZED"
        good = server.client.post("/reload", headers={"Authorization": "Bearer s3cret"})
        assert good.status_code == 202
        # prediction routes need no token
        assert server.client.get("/health/live").status_code == 200
        assert "WARMSERVE_ADMIN_TOKEN" not in server.log()  # no exposure warning on loopback
    finally:
        server.stop()


def test_warns_when_exposed_without_a_token(tmp_path: Path) -> None:
    server = Server(tmp_path / "home", "--host", "0.0.0.0")
    try:
        assert "with no WARMSERVE_ADMIN_TOKEN" in server.log()
    finally:
        server.stop()

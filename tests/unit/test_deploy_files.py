"""The contract of deploy/compose.yaml and the Dockerfile, read through the real tools.

`docker compose config` (compose-go, no engine needed) gives the file as Compose
itself understands it, anchors and variables resolved; the assertions are on that.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from support import ROOT

BIN = Path(sys.executable).parent


def compose_binary() -> str:
    """The static Compose v2 binary of compose-go (its Python wrapper drops exit codes)."""
    import compose

    return str(Path(compose.__file__).parent / "docker-compose")


OUR_SERVICES = ("mlflow", "api", "trainer")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    env = {**os.environ, "WARMSERVE_ADMIN_TOKEN": "placeholder"}
    result = subprocess.run(
        [compose_binary(), "-f", str(ROOT / "deploy" / "compose.yaml"),
         "config", "--format", "json"],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    return dict(json.loads(result.stdout))


def test_the_five_services_and_their_health_gates(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "mlflow", "api", "trainer"}
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] == "CMD", name
    gates = {
        "mlflow": {"postgres"},
        "api": {"mlflow", "redis"},
        "trainer": {"mlflow", "api"},
    }
    for name, needs in gates.items():
        depends = services[name]["depends_on"]
        assert set(depends) == needs, name
        assert {d["condition"] for d in depends.values()} == {"service_healthy"}, name


def test_one_image_three_roles_non_root(compose: dict[str, Any]) -> None:
    services = compose["services"]
    images = {services[name]["image"] for name in OUR_SERVICES}
    assert images == {"warmserve:latest"}
    roles = {name: services[name]["command"][0] for name in OUR_SERVICES}
    assert roles == {"mlflow": "mlflow", "api": "serve", "trainer": "trainer"}
    for name in OUR_SERVICES:
        assert services[name]["user"].split(":")[0] not in ("0", "root"), name
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER 10001", dockerfile, re.M)
    assert re.search(r"^HEALTHCHECK ", dockerfile, re.M)
    assert 'ENTRYPOINT ["warmserve"]' in dockerfile  # exec form: warmserve is PID 1


def test_mlflow_knows_its_service_name_and_uses_psycopg2(compose: dict[str, Any]) -> None:
    env = compose["services"]["mlflow"]["environment"]
    allowed = env["WARMSERVE_MLFLOW_ALLOWED_HOSTS"].split(",")
    assert "mlflow" in allowed and "mlflow:5000" in allowed
    assert env["WARMSERVE_MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg2://")
    assert "@postgres:5432/" in env["WARMSERVE_MLFLOW_BACKEND_STORE_URI"]
    for name in ("api", "trainer"):
        assert compose["services"][name]["environment"]["WARMSERVE_TRACKING_URI"] == (
            "http://mlflow:5000"
        )
    assert compose["services"]["trainer"]["environment"]["WARMSERVE_TRAINER_NOTIFY"] == (
        "http://api:8000"
    )


def test_only_loopback_is_published(compose: dict[str, Any]) -> None:
    published = {
        name: [p["host_ip"] for p in service.get("ports", [])]
        for name, service in compose["services"].items()
    }
    assert published.pop("postgres") == [] and published.pop("redis") == []
    assert published == {name: ["127.0.0.1"] for name in OUR_SERVICES}


def test_named_volumes_for_database_artifacts_and_inbox(compose: dict[str, Any]) -> None:
    def volumes(name: str) -> dict[str, str]:
        mounts = compose["services"][name].get("volumes", [])
        return {m["target"]: m["source"] for m in mounts if m["type"] == "volume"}

    assert volumes("postgres") == {"/var/lib/postgresql/data": "postgres-data"}
    assert volumes("mlflow") == {"/data/artifacts": "artifacts"}
    assert volumes("trainer")["/data/inbox"] == "inbox"
    assert set(compose["volumes"]) == {"postgres-data", "artifacts", "inbox", "trainer-data"}


def test_the_admin_token_is_required(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WARMSERVE_ADMIN_TOKEN"}
    result = subprocess.run(
        [compose_binary(), "-f", str(ROOT / "deploy" / "compose.yaml"), "config"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0 and "WARMSERVE_ADMIN_TOKEN" in result.stderr


def test_hadolint_passes_the_dockerfile() -> None:
    result = subprocess.run(
        [str(BIN / "hadolint"), str(ROOT / "Dockerfile")], capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr

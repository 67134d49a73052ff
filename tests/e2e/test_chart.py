"""The Helm chart's contract: it lints, validates against the schemas of the oldest and
newest Kubernetes it supports, and what it tells the kubelet (probes, ports, args,
environment) is what a real `warmserve serve` answers and accepts.

No cluster runs here; the kubelet's part (resolving envFrom, secretKeyRef and the
downward API, then probing) is done by tests/chart.py and by this test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from chart import CHART, NEWEST_KUBE, OLDEST_KUBE, ROOT, Rendered, helm, render, render_text
from support import cli, free_port, start_redis, wait_until
from warmserve.settings import Settings

POD = "ws-warmserve-api-7d9f8c6b5-x2k4q"
KSERVE = ROOT / "deploy" / "kserve"


@pytest.fixture(scope="module")
def rendered() -> Rendered:
    return render(NEWEST_KUBE)


def validate(text: str, kube_version: str) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("kubernetes-validate")), "--strict", "--quiet",
         "-k", kube_version, "-"],
        input=text, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_chart_lints() -> None:
    out = helm("lint", "--strict", str(CHART))
    assert "0 chart(s) failed" in out


EXTERNAL_SERVICES = [  # managed Redis and PostgreSQL instead of the bundled ones
    "redis.enabled=false",
    "redis.url=redis://cache.example:6379/0",
    "postgresql.enabled=false",
    "mlflow.backendStoreUri=postgresql+psycopg2://u:p@db.example:5432/mlflow",
    "api.autoscaling.enabled=false",
    "trainer.enabled=false",
    "secrets.existingSecret=mine",
]


@pytest.mark.parametrize("kube_version", [OLDEST_KUBE, NEWEST_KUBE])
@pytest.mark.parametrize(
    "sets",
    [[], EXTERNAL_SERVICES],
    ids=["bundled", "external"],
)
def test_manifests_validate_strictly(kube_version: str, sets: list[str]) -> None:
    validate(render_text(kube_version, sets), kube_version)


def test_prestop_form_follows_the_cluster_version() -> None:
    """preStop.sleep needs 1.30+; older clusters get `sleep` run in the container."""
    old = render(OLDEST_KUBE).container("api")["lifecycle"]["preStop"]
    new = render(NEWEST_KUBE).container("api")["lifecycle"]["preStop"]
    assert old == {"exec": {"command": ["sleep", "5"]}}
    assert new == {"sleep": {"seconds": 5}}
    # the newest form is refused by the oldest schema: the validation above is real
    with pytest.raises(AssertionError, match="sleep"):
        validate(render_text(NEWEST_KUBE), OLDEST_KUBE)


def test_grace_period_covers_prestop_and_the_servers_drain(rendered: Rendered) -> None:
    spec = rendered.get("Deployment", "api")["spec"]["template"]["spec"]
    env = rendered.env("api", POD)
    grace = float(env["WARMSERVE_SHUTDOWN_GRACE"])
    pre_stop = spec["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    # supervisor: HTTP workers get grace + 5 s, then the model process grace + 5 s
    assert spec["terminationGracePeriodSeconds"] >= pre_stop + 2 * (grace + 5)
    assert rendered.get("Deployment", "api")["spec"]["strategy"]["rollingUpdate"] == {
        "maxUnavailable": 0,
        "maxSurge": 1,
    }


def test_containers_are_non_root_with_a_read_only_root(rendered: Rendered) -> None:
    for component in ("api", "trainer", "mlflow"):
        pod = rendered.get("Deployment", component)["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        env = {e["name"]: e.get("value") for e in container["env"]}
        # where the server writes: TMPDIR (runtime dir, runner socket, Prometheus
        # multiprocess dir, artifact downloads) and HOME
        assert env["TMPDIR"] in mounts and env["HOME"] in mounts, component
        assert "limits" in container["resources"] and "requests" in container["resources"]
    for kind, component in (("StatefulSet", "postgresql"), ("Deployment", "redis")):
        pod = rendered.get(kind, component)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


def test_secrets_reach_the_api_from_a_secret(rendered: Rendered) -> None:
    env = rendered.container("api")["env"]
    by_name = {item["name"]: item for item in env}
    for name, key in (
        ("WARMSERVE_ADMIN_TOKEN", "admin-token"),
        ("WARMSERVE_CACHE_SECRET", "cache-secret"),
    ):
        assert by_name[name]["valueFrom"]["secretKeyRef"]["key"] == key
    assert by_name["WARMSERVE_REPLICA_NAME"]["valueFrom"]["fieldRef"] == {
        "fieldPath": "metadata.name"
    }
    config = rendered.get("ConfigMap", "api")["data"]
    assert not {"WARMSERVE_ADMIN_TOKEN", "WARMSERVE_CACHE_SECRET"} & set(config)
    resolved = rendered.env("api", POD)
    assert len(resolved["WARMSERVE_CACHE_SECRET"]) >= 32
    assert resolved["WARMSERVE_CACHE"].startswith("redis://ws-warmserve-redis:6379/")


def test_every_warmserve_variable_is_a_setting_the_server_accepts(
    rendered: Rendered, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings ignores unknown WARMSERVE_* names, so a typo would pass silently."""
    env = rendered.env("api", POD)
    fields = {f"WARMSERVE_{name.upper()}" for name in Settings.model_fields}
    unknown = {name for name in env if name.startswith("WARMSERVE_")} - fields
    assert not unknown, f"not settings: {unknown}"
    for name in list(os.environ):
        if name.startswith(("WARMSERVE_", "MLFLOW_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.host == "0.0.0.0" and settings.port == 8000
    assert settings.model == "models:/churn@production"
    assert settings.replica_name == POD
    assert settings.resolved_tracking_uri() == "http://ws-warmserve-mlflow:5000"
    assert rendered.command("api") == ["warmserve", "serve"]


def test_mlflow_server_accepts_the_service_name_and_uses_psycopg2(rendered: Rendered) -> None:
    args = rendered.command("mlflow")
    assert args[:2] == ["mlflow", "server"]
    flags = dict(arg.split("=", 1) for arg in args[2:])
    hosts = flags["--allowed-hosts"].split(",")
    assert {"ws-warmserve-mlflow", "ws-warmserve-mlflow:5000"} <= set(hosts)
    assert flags["--backend-store-uri"].startswith("postgresql+psycopg2://mlflow:$(POSTGRES_")
    assert "--artifacts-destination" in flags
    mlflow_url = rendered.env("api", POD)["WARMSERVE_TRACKING_URI"]
    assert mlflow_url == f"http://{hosts[0]}:{flags['--port']}"


def test_trainer_follows_the_trainer_interface(rendered: Rendered) -> None:
    args = rendered.command("trainer")
    assert args[:2] == ["warmserve", "trainer"]
    flags = dict(arg.split("=", 1) for arg in args[2:])
    assert flags["--name"] == "churn" and flags["--target"] == "churned"
    assert flags["--mode"] in {"append", "replace"}
    assert flags["--notify"] == "http://ws-warmserve-api:80/reload"
    service = rendered.get("Service", "api")["spec"]
    assert service["ports"][0]["port"] == 80 and service["ports"][0]["targetPort"] == "http"


def test_metrics_are_scraped(rendered: Rendered) -> None:
    annotations = rendered.get("Deployment", "api")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == rendered.container_port("api", "http")
    monitored = render(NEWEST_KUBE, ["metrics.serviceMonitor.enabled=true"])
    monitor = monitored.get("ServiceMonitor", "api")["spec"]
    service = monitored.get("Service", "api")
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]


def test_kserve_example_names_what_kserve_expects() -> None:
    runtime = yaml.safe_load((KSERVE / "servingruntime.yaml").read_text())
    service = yaml.safe_load((KSERVE / "inferenceservice.yaml").read_text())
    assert runtime["apiVersion"] == "serving.kserve.io/v1alpha1"
    assert runtime["spec"]["protocolVersions"] == ["v2"]
    (container,) = runtime["spec"]["containers"]
    assert container["name"] == "kserve-container"
    env = {e["name"] for e in container["env"]}
    fields = {f"WARMSERVE_{name.upper()}" for name in Settings.model_fields}
    assert {name for name in env if name.startswith("WARMSERVE_")} <= fields
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert service["spec"]["predictor"]["model"]["runtime"] == runtime["metadata"]["name"]


# --- the probes against a real server ------------------------------------------------


def probe_targets(rendered: Rendered) -> dict[str, tuple[str, int]]:
    container = rendered.container("api")
    found = {}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        found[probe] = (get["path"], rendered.container_port("api", get["port"]))
    return found


@pytest.mark.slow
def test_probes_are_routes_the_server_answers(rendered: Rendered, tmp_path: Path) -> None:
    """The Deployment's exact command and environment, with only the addresses of
    other services (MLflow, Redis) and the bind address swapped for local ones."""
    env = rendered.env("api", POD)
    targets = probe_targets(rendered)
    assert {port for _, port in targets.values()} == {int(env["WARMSERVE_PORT"])}
    home = tmp_path / "registry"
    registry = f"sqlite:///{home / 'mlflow.db'}"
    redis_port = free_port()
    redis = start_redis(redis_port, tmp_path)
    port = free_port()
    scratch = tmp_path / "pod"
    (scratch / "tmp").mkdir(parents=True)
    (scratch / "home").mkdir()
    local = {
        **env,
        "WARMSERVE_HOST": "127.0.0.1",
        "WARMSERVE_PORT": str(port),
        "WARMSERVE_TRACKING_URI": registry,
        "WARMSERVE_CACHE": f"redis://127.0.0.1:{redis_port}/0",
        "WARMSERVE_LOAD_RETRY_INTERVAL": "1",
        "TMPDIR": str(scratch / "tmp"),
        "HOME": str(scratch / "home"),
    }
    cli(home, "models", "--tracking-uri", registry)  # the schema, before two processes race
    argv = rendered.command("api")
    assert argv[0] == "warmserve"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("WARMSERVE_", "MLFLOW_"))}
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "warmserve", *argv[1:]],
        env={**base, **local, "PYTHONUNBUFFERED": "1"},
        stdout=log, stderr=subprocess.STDOUT, cwd=scratch, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=10) as client:

            def status(path: str) -> int:
                return client.get(path).status_code

            live, ready = targets["livenessProbe"][0], targets["readinessProbe"][0]
            wait_until(lambda: status(targets["startupProbe"][0]) == 200, 90, what="startup")
            assert status(live) == 200
            no_model = client.get(ready)
            assert no_model.status_code == 503
            assert no_model.json()["error_code"] == "MODEL_NOT_AVAILABLE"

            cli(home, "train", "--dataset", "iris", "--name", "churn",
                "--promote", "production", "--tracking-uri", registry)  # fmt: skip
            wait_until(lambda: status(ready) == 200, 90, what="readiness with a model")
            assert status(live) == 200
            answer = predict(client)
            assert answer.headers["x-replica"] == POD
            assert answer.headers["x-model-version"] == "1"
            assert answer.headers["x-cache"] == "miss"
            assert predict(client).headers["x-cache"] == "hit"  # signed entry verified
            token = env["WARMSERVE_ADMIN_TOKEN"]
            assert client.post("/reload").status_code == 401
            reload = client.post("/reload", headers={"Authorization": f"Bearer {token}"})
            assert reload.status_code == 202
    finally:
        stop(server)
        log.close()
        redis.terminate()
        redis.wait(10)
    assert server.returncode == 0, (tmp_path / "server.log").read_text()[-3000:]


def predict(client: httpx.Client) -> Any:
    row = {"sepal_length_cm": 5.1, "sepal_width_cm": 3.5, "petal_length_cm": 1.4,
           "petal_width_cm": 0.2}  # fmt: skip
    response = client.post("/invocations", json={"dataframe_records": [row]})
    assert response.status_code == 200, response.text
    return response


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(10)

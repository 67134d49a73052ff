"""Replicas on separate hosts sharing one registry and one cache, run as the chart says.

Four hosts, each a network namespace on a private bridge: three API replicas started
with the exact command and environment of the rendered Deployment (read-only root,
tmpfs at its writable paths, its non-root user), and an infrastructure host with
PostgreSQL, a real `mlflow server` (the Deployment's args: PostgreSQL via psycopg2,
proxied artifacts, --allowed-hosts) and Redis. Service names resolve through each
host's /etc/hosts. haproxy in the root namespace plays the Service, its health
check on the readiness path at the readiness probe's period. Client loops are
bounded in time; counts are printed (run with -s to see them).

Skips where network namespaces cannot be made (not root) or a tool is missing.
"""

from __future__ import annotations

import glob
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from balancer import HAProxy, client_loop, failed, summary
from chart import NEWEST_KUBE, Rendered, render
from hosts import Host, Network, Process, can_run_as, network, pod_argv, why_unavailable
from support import IRIS_ROW, wait_until

pytestmark = pytest.mark.slow

MODEL = "churn"
REPLICAS = ("api-1", "api-2", "api-3")
INFRA = "infra"
LOAD_ALLOWANCE = 30.0  # seconds a replica may take to load a version, on a busy 2-core box
OUTAGE = 30.0  # seconds the infrastructure host is cut off
BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]  # the checkout: the pods run it


def log(line: str) -> None:
    print(f"multihost: {line}", flush=True)


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@dataclass
class Cluster:
    rendered: Rendered
    net: Network
    work: Path
    haproxy: HAProxy
    uid: int | None
    pods: dict[str, Process] = field(default_factory=dict)
    pod_names: dict[str, str] = field(default_factory=dict)
    infra: list[Process] = field(default_factory=list)
    generation: int = 0

    # --- what the chart says -------------------------------------------------------
    @property
    def port(self) -> int:
        return self.rendered.container_port("api", "http")

    @property
    def poll_interval(self) -> float:
        return float(self.rendered.env("api", "x")["WARMSERVE_POLL_INTERVAL"])

    @property
    def pod_spec(self) -> dict:
        return self.rendered.get("Deployment", "api")["spec"]["template"]["spec"]

    def url(self, replica: str) -> str:
        return f"http://{self.net.hosts[replica].address}:{self.port}"

    # --- pods ----------------------------------------------------------------------
    def start_pod(self, replica: str) -> str:
        """A new pod of the Deployment on ``replica``'s host; returns its name."""
        self.generation += 1
        name = f"ws-warmserve-api-5c8d7f9b4-{replica[-1]}{self.generation:03d}"
        env = {
            "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin",
            "PYTHONDONTWRITEBYTECODE": "1",  # as an image sets it for a read-only root
            **self.rendered.env("api", name),
        }
        command = self.rendered.command("api")
        command[0] = str(BIN / command[0])
        volumes = {v["name"] for v in self.pod_spec["volumes"] if "emptyDir" in v}
        writable = [
            m["mountPath"]
            for m in self.rendered.container("api")["volumeMounts"]
            if m["name"] in volumes
        ]
        argv = pod_argv(command, writable, self.uid, keep=(str(ROOT),))
        log_path = self.work / f"{name}.log"
        self.pods[replica] = Process(self.net.hosts[replica], argv, env, log_path)
        self.pod_names[replica] = name
        return name

    def ready(self, replica: str) -> dict | None:
        response = httpx.get(f"{self.url(replica)}/health/ready", timeout=2)
        return response.json() if response.status_code == 200 else None

    def wait_ready(self, replica: str, timeout: float = 120) -> None:
        pod = self.pods[replica]

        def ready() -> dict | None:
            assert pod.proc.poll() is None, f"{replica} exited:\n{pod.log()[-3000:]}"
            return self.ready(replica)

        try:
            wait_until(ready, timeout, interval=0.2, what=f"{replica} ready")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{pod.log()[-3000:]}") from None

    def served(self, replica: str) -> str | None:
        model = httpx.get(f"{self.url(replica)}/model", timeout=5).json().get("model") or {}
        return model.get("version")

    def model_state(self, replica: str) -> dict:
        return httpx.get(f"{self.url(replica)}/model", timeout=5).json()

    # --- the registry, from the infrastructure host ------------------------------------
    def warmserve(self, *args: str) -> str:
        """A warmserve CLI command on the infrastructure host, against the MLflow
        server by its service name."""
        scratch = self.work / "cli"
        scratch.mkdir(exist_ok=True)
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(scratch),
            "TMPDIR": str(scratch),
            "WARMSERVE_TRACKING_URI": self.rendered.env("api", "x")["WARMSERVE_TRACKING_URI"],
        }
        done = subprocess.run(
            self.net.hosts[INFRA].argv(str(BIN / "warmserve"), *args),
            env=env, cwd=scratch, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr + done.stdout
        return done.stdout

    def set_alias(self, version: str) -> None:
        """`warmserve promote` as one REST call (MLflow's SetRegisteredModelAlias), so the
        move is timed to the millisecond: the Host header is the service name the
        server's --allowed-hosts accepts."""
        mlflow = self.rendered.get("Service", "mlflow")
        port = mlflow["spec"]["ports"][0]["port"]
        response = httpx.post(
            f"http://{self.net.hosts[INFRA].address}:{port}/api/2.0/mlflow/registered-models/alias",
            json={"name": MODEL, "alias": "production", "version": version},
            headers={"Host": f"{mlflow['metadata']['name']}:{port}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text

    def roll_out(self, version: str) -> dict[str, float]:
        """Move the alias to ``version`` and wait until every replica serves it; returns
        seconds from the alias move to each replica's switch."""
        self.set_alias(version)
        moved = time.monotonic()
        switched: dict[str, float] = {}

        def everyone_switched() -> bool:
            for replica in REPLICAS:
                if replica not in switched and self.served(replica) == version:
                    switched[replica] = round(time.monotonic() - moved, 2)
            return len(switched) == len(REPLICAS)

        bound = self.poll_interval + LOAD_ALLOWANCE
        wait_until(everyone_switched, bound + 15, interval=0.1, what=f"every replica on v{version}")
        return dict(sorted(switched.items()))


# --- the infrastructure host ------------------------------------------------------------


def start_postgres(rendered: Rendered, host: Host, pg_bin: Path, data: Path) -> None:
    env = {e["name"]: e for e in rendered.container("postgresql", "StatefulSet")["env"]}
    user, database = env["POSTGRES_USER"]["value"], env["POSTGRES_DB"]["value"]
    password = rendered_secret(rendered, "postgres-password")
    pwfile = data / "pw"
    pwfile.write_text(password)
    shutil.chown(data, "postgres", "postgres")
    shutil.chown(pwfile, "postgres", "postgres")
    as_postgres = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
    subprocess.run(
        [*as_postgres, str(pg_bin / "initdb"), "-D", str(data / "db"), "-U", user,
         f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    with open(data / "db" / "pg_hba.conf", "a") as hba:
        hba.write(f"host all all {host.address.rsplit('.', 1)[0]}.0/24 scram-sha-256\n")
    options = f"-c listen_addresses={host.address} -c port=5432 -k {data}"
    subprocess.run(
        host.argv(*as_postgres, str(pg_bin / "pg_ctl"), "-D", str(data / "db"), "-w",
                  "-t", "60", "-l", str(data / "postgres.log"), "-o", options, "start"),
        check=True, capture_output=True, timeout=90,
    )  # fmt: skip
    subprocess.run(
        host.argv(*as_postgres, str(pg_bin / "createdb"), "-h", str(data), "-U", user, database),
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def rendered_secret(rendered: Rendered, key: str) -> str:
    import base64

    secret = rendered.get("Secret", "secrets")
    return base64.b64decode(secret["data"][key]).decode()


def start_mlflow(rendered: Rendered, host: Host, work: Path) -> Process:
    """The MLflow Deployment's command and args, with $(VAR) expanded as the kubelet
    does and the artifacts volume at a directory of this test."""
    container = rendered.container("mlflow")
    env = {"PATH": os.environ["PATH"]}
    for item in container["env"]:
        if "value" in item:
            env[item["name"]] = str(item["value"])
        else:
            env[item["name"]] = rendered_secret(rendered, item["valueFrom"]["secretKeyRef"]["key"])
    scratch = work / "mlflow-home"
    scratch.mkdir()
    env.update(HOME=str(scratch), TMPDIR=str(scratch))
    artifacts = work / "mlartifacts"
    argv = [str(BIN / container["command"][0]), *container["command"][1:]]
    for arg in container["args"]:
        for name, value in env.items():
            arg = arg.replace(f"$({name})", value)
        if arg.startswith("--artifacts-destination="):
            arg = f"--artifacts-destination={artifacts}"
        argv.append(arg)
    proc = Process(host, argv, env, work / "mlflow-server.log")
    port = rendered.container_port("mlflow", "http")
    service = rendered.get("Service", "mlflow")["metadata"]["name"]

    def healthy() -> bool:
        assert proc.proc.poll() is None, proc.log()[-3000:]
        # the Host header a replica sends: refused (403) unless --allowed-hosts has it
        response = httpx.get(
            f"http://{host.address}:{port}/health",
            headers={"Host": f"{service}:{port}"},
            timeout=2,
        )
        return response.status_code == 200

    wait_until(healthy, 120, interval=0.3, what=f"mlflow server\n{proc.log()[-2000:]}")
    return proc


def start_redis(rendered: Rendered, host: Host, work: Path) -> Process:
    args = [str(a) for a in rendered.container("redis")["args"]]
    argv = ["redis-server", "--bind", host.address, "--port", "6379", "--dir", str(work), *args]
    proc = Process(host, argv, {"PATH": os.environ["PATH"]}, work / "redis.log")
    wait_until(
        lambda: subprocess.run(
            host.argv("redis-cli", "-h", host.address, "ping"), capture_output=True, text=True
        ).stdout.strip() == "PONG",
        20, what="redis",
    )  # fmt: skip
    return proc


# --- the fixture -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    why = why_unavailable()
    if why:
        pytest.skip(why)
    pg_bin = postgres_bin()
    for tool, found in (("haproxy", shutil.which("haproxy")), ("initdb", pg_bin),
                        ("redis-server", shutil.which("redis-server"))):  # fmt: skip
        if not found:
            pytest.skip(f"{tool} is not installed (scripts/ensure-haproxy.sh, Debian packages)")
    assert pg_bin is not None
    rendered = render(NEWEST_KUBE)
    services = {
        rendered.get("Service", c)["metadata"]["name"]: INFRA
        for c in ("mlflow", "redis", "postgresql")
    }
    work = Path(tempfile.mkdtemp(prefix="ws-multihost-"))
    pg_data = Path(tempfile.mkdtemp(prefix="ws-multihost-pg-"))
    os.chmod(work, 0o755)
    uid = rendered.get("Deployment", "api")["spec"]["template"]["spec"]["securityContext"][
        "runAsUser"
    ]
    if not can_run_as(uid, sys.executable):
        log(f"uid {uid} cannot run this checkout's Python: the replicas run as root")
        uid = None
    try:
        with network([*REPLICAS, INFRA], services) as net:
            yield from run_cluster(rendered, net, work, pg_bin, pg_data, uid)
    finally:  # the network is gone by now: whatever still ran in it was killed
        shutil.rmtree(pg_data, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def run_cluster(
    rendered: Rendered, net: Network, work: Path, pg_bin: Path, pg_data: Path, uid: int | None
) -> Iterator[Cluster]:
    """Start everything on the hosts, yield, then stop it all gracefully."""
    started: list[Process] = []
    haproxy: HAProxy | None = None
    cluster: Cluster | None = None
    infra = net.hosts[INFRA]
    try:
        t0 = time.monotonic()
        start_postgres(rendered, infra, pg_bin, pg_data)
        started.append(start_redis(rendered, infra, work))
        started.append(start_mlflow(rendered, infra, work))
        log(f"infrastructure up in {time.monotonic() - t0:.1f}s")
        probe = rendered.container("api")["readinessProbe"]
        port = rendered.container_port("api", probe["httpGet"]["port"])
        haproxy = HAProxy(
            work,
            {r: f"{net.hosts[r].address}:{port}" for r in REPLICAS},
            probe["httpGet"]["path"],
            float(probe["periodSeconds"]),
        )
        cluster = Cluster(rendered, net, work, haproxy, uid, infra=started)
        cluster.warmserve("train", "--dataset", "iris", "--name", MODEL,
                          "--promote", "production")  # fmt: skip
        cluster.warmserve("train", "--dataset", "iris", "--name", MODEL,
                          "--estimator", "random_forest")  # fmt: skip
        for replica in REPLICAS:
            cluster.start_pod(replica)
        for replica in REPLICAS:
            cluster.wait_ready(replica)
        wait_until(lambda: haproxy.up() == set(REPLICAS), 30, what="haproxy sees all")
        log(f"3 replicas ready behind haproxy {time.monotonic() - t0:.1f}s after start")
        yield cluster
    finally:
        if cluster is not None:
            for pod in cluster.pods.values():
                pod.stop(timeout=30)
        if haproxy is not None:
            haproxy.stop()
        for proc in started:
            proc.stop(timeout=20)
        if (pg_data / "db" / "postmaster.pid").exists():
            subprocess.run(
                ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups",
                 str(pg_bin / "pg_ctl"), "-D", str(pg_data / "db"), "-m", "immediate", "stop"],
                capture_output=True, timeout=60, check=False,
            )  # fmt: skip


def all_serve(cluster: Cluster, version: str) -> None:
    for replica in REPLICAS:
        cluster.wait_ready(replica)
        assert cluster.served(replica) == version, replica


def random_row() -> dict[str, float]:
    return {key: round(random.uniform(0.1, 8.0), 6) for key in IRIS_ROW}


# --- the scenarios ------------------------------------------------------------------------


def test_replicas_run_as_the_pod_spec_says(cluster: Cluster) -> None:
    """The harness is what it claims: read-only root, tmpfs at the writable paths,
    the Deployment's environment, the image's user where this checkout allows it."""
    container = cluster.rendered.container("api")
    writable = {m["mountPath"] for m in container["volumeMounts"]}
    for replica in REPLICAS:
        pid = cluster.pods[replica].pid
        mounts = {}
        for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
            fields = line.split()
            mounts[fields[4]] = (fields[5].split(","), line.split(" - ")[1].split()[0])
        assert "ro" in mounts["/"][0], mounts["/"]
        for path in writable:  # the nearest mount (a tmpfs parent where path is new here)
            where = max((m for m in mounts if path.startswith(m.rstrip("/") + "/") or m == path),
                        key=len)  # fmt: skip
            assert where != "/" and mounts[where][1] == "tmpfs", (path, mounts)
            assert "rw" in mounts[where][0], (path, mounts[where])
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        env = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
        expected = cluster.rendered.env("api", cluster.pod_names[replica])
        assert {k: env.get(k) for k in expected} == expected
        status = Path(f"/proc/{pid}/status").read_text()
        uid = int(next(ln for ln in status.splitlines() if ln.startswith("Uid:")).split()[1])
        assert uid == (cluster.uid if cluster.uid is not None else 0)


def test_promotion_reaches_every_replica_without_a_failed_request(cluster: Cluster) -> None:
    all_serve(cluster, "1")
    bound = cluster.poll_interval + LOAD_ALLOWANCE
    with client_loop(cluster.haproxy.url, {"dataframe_records": [IRIS_ROW]}) as loop:
        wait_until(lambda: loop.count() > 30, 60, what="traffic")
        switched = cluster.roll_out("2")
        after = time.monotonic()
        wait_until(lambda: len(loop.since(after)) > 30, 60, what="traffic after the swap")
        answers = loop.finish()
    log(f"promotion: alias -> serving per replica (s): {switched}; {summary(answers)}")
    assert not failed(answers), failed(answers)[:5]
    assert all(seconds <= bound for seconds in switched.values()), switched
    by_replica = {a.replica for a in answers}
    assert by_replica == set(cluster.pod_names.values()), by_replica
    late = [a for a in answers if a.at >= after]
    assert {a.version for a in late} == {"2"}
    assert {a.replica for a in answers if a.version == "2"} == by_replica


def test_an_answer_of_one_replica_is_a_cache_hit_on_another(cluster: Cluster) -> None:
    body = {"dataframe_records": [random_row()]}
    first = httpx.post(f"{cluster.url('api-1')}/invocations", json=body, timeout=30)
    assert first.status_code == 200, first.text
    assert first.headers["x-cache"] == "miss"
    assert first.headers["x-replica"] == cluster.pod_names["api-1"]
    for other in ("api-2", "api-3"):
        again = httpx.post(f"{cluster.url(other)}/invocations", json=body, timeout=30)
        assert again.status_code == 200, again.text
        assert again.headers["x-replica"] == cluster.pod_names[other]
        assert again.headers["x-cache"] == "hit", other  # verified with the shared secret
        assert again.json() == first.json()
        assert again.headers["x-model-version"] == first.headers["x-model-version"]
    log("cache: a miss on api-1 was a hit on api-2 and api-3")


def observe_readiness(url: str, pod: Process, until: float) -> list[tuple[float, str]]:
    """What GET /health/ready answers on a draining replica, until it exits."""
    seen: list[tuple[float, str]] = []
    start = time.monotonic()
    while pod.proc.poll() is None and time.monotonic() < until:
        try:
            status = str(httpx.get(f"{url}/health/ready", timeout=1).status_code)
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        if not seen or seen[-1][1] != status:
            seen.append((round(time.monotonic() - start, 2), status))
        time.sleep(0.1)  # sampling period of the observation, not a readiness wait
    return seen


def test_rolling_replacement_drops_no_request(cluster: Cluster) -> None:
    replica = "api-1"
    old_name = cluster.pod_names[replica]
    spec = cluster.pod_spec
    pre_stop = float(spec["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"])
    grace = float(spec["terminationGracePeriodSeconds"])
    for r in REPLICAS:
        cluster.wait_ready(r)
    with client_loop(cluster.haproxy.url, {"dataframe_records": [IRIS_ROW]}) as loop:
        wait_until(lambda: loop.count() > 30, 60, what="traffic")
        # The pod is deleted: the endpoint controller removes it while preStop runs.
        cluster.haproxy.disable(replica)
        time.sleep(pre_stop)  # the preStop hook of the Deployment (its sleep action)
        pod = cluster.pods[replica]
        pod.signal(signal.SIGTERM)
        stopped = time.monotonic()
        readiness = observe_readiness(cluster.url(replica), pod, stopped + grace)
        code = pod.wait(max(0.0, stopped + grace - time.monotonic()))
        drained = time.monotonic() - stopped
        assert code == 0, f"exit {code} after {drained:.1f}s (grace {grace}s)\n{pod.log()[-3000:]}"
        new_name = cluster.start_pod(replica)
        cluster.wait_ready(replica)
        cluster.haproxy.enable(replica)
        wait_until(
            lambda: any(a.replica == new_name for a in loop.since(stopped)), 60,
            what="the new pod answering through haproxy",
        )  # fmt: skip
        answers = loop.finish()
    log(
        f"rolling: SIGTERM -> exit {drained:.1f}s; readiness on the draining pod "
        f"(s after SIGTERM, answer): {readiness}; {summary(answers)}"
    )
    assert not failed(answers), failed(answers)[:5]
    assert old_name != new_name
    assert {a.replica for a in answers} >= {old_name, new_name}


def test_sigkill_fails_at_most_the_requests_in_flight(cluster: Cluster) -> None:
    replica = "api-2"
    clients = 6
    for r in REPLICAS:
        cluster.wait_ready(r)
    victim = cluster.pod_names[replica]
    with client_loop(
        cluster.haproxy.url, {"dataframe_records": [IRIS_ROW]}, clients=clients
    ) as loop:
        wait_until(lambda: loop.count() > 30, 60, what="traffic")
        pod = cluster.pods[replica]
        killed = time.monotonic()
        pod.signal(signal.SIGKILL, group=True)  # the container dies whole (OOM, node lost)
        pod.proc.wait(10)
        wait_until(lambda: replica not in cluster.haproxy.up(), 30, what="haproxy notices")
        noticed = time.monotonic() - killed
        wait_until(lambda: len(loop.since(time.monotonic() - 1)) > 0, 30, what="traffic")
        new_name = cluster.start_pod(replica)  # the ReplicaSet replaces it
        cluster.wait_ready(replica)
        wait_until(lambda: replica in cluster.haproxy.up(), 30, what="haproxy takes it back")
        wait_until(
            lambda: any(a.replica == new_name for a in loop.since(killed)), 60,
            what="the replacement answering",
        )  # fmt: skip
        answers = loop.finish()
    bad = failed(answers)
    log(
        f"sigkill: haproxy took {replica} out after {noticed:.1f}s; {len(bad)} failed of "
        f"{len(answers)} ({[a.error[:60] for a in bad]}); {summary(answers)}"
    )
    assert len(bad) <= clients  # at most one request in flight per client
    assert all(abs(a.at - killed) < 5 for a in bad), bad
    assert any(a.replica == victim for a in answers if a.at < killed)


def test_infrastructure_cut_off_then_back(cluster: Cluster) -> None:
    for r in REPLICAS:
        cluster.wait_ready(r)
    before = {r: cluster.served(r) for r in REPLICAS}
    assert len(set(before.values())) == 1, before
    version = next(iter(before.values()))
    infra = cluster.net.hosts[INFRA]
    readiness: dict[str, set[int]] = {r: set() for r in REPLICAS}
    registry_errors: set[str] = set()
    with client_loop(cluster.haproxy.url, {"dataframe_records": [IRIS_ROW]}) as loop:
        wait_until(lambda: loop.count() > 30, 60, what="traffic")
        infra.link(up=False)
        cut = time.monotonic()
        try:
            while time.monotonic() - cut < OUTAGE:  # the outage lasts OUTAGE seconds
                for r in REPLICAS:
                    readiness[r].add(httpx.get(f"{cluster.url(r)}/health/ready").status_code)
                    if cluster.model_state(r).get("registry_error"):
                        registry_errors.add(r)
                time.sleep(1.0)  # sampling period of the observation
        finally:
            infra.link(up=True)
        restored = time.monotonic()
        during = [a for a in loop.since(cut) if a.at < restored]
        wait_until(lambda: len(loop.since(restored)) > 30, 60, what="traffic after")
        answers = loop.finish()
    log(
        f"outage {OUTAGE:.0f}s: readiness seen {readiness}; registry_error shown by "
        f"{sorted(registry_errors)}; during: {summary(during)}; all: {summary(answers)}"
    )
    assert not failed(answers), failed(answers)[:5]
    assert during and {a.version for a in during} == {version}
    assert all(codes == {200} for codes in readiness.values()), readiness  # as documented
    # Recovery: the registry and the cache answer again on every replica.
    target = "1" if version == "2" else "2"
    followed = cluster.roll_out(target)
    body = {"dataframe_records": [random_row()]}

    def shared_again() -> bool:
        first = httpx.post(f"{cluster.url('api-3')}/invocations", json=body, timeout=30)
        again = httpx.post(f"{cluster.url('api-1')}/invocations", json=body, timeout=30)
        return first.status_code == 200 and again.headers.get("x-cache") == "hit"

    wait_until(shared_again, 30, interval=0.5, what="the shared cache again")
    log(
        f"outage: after the link returned every replica followed a promotion {followed} "
        "and the shared cache answered hits again"
    )

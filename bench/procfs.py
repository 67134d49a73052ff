"""Process trees, memory (PSS) and CPU time read from /proc (Linux only)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    """Fields of /proc/PID/stat after the command name (field 3 = state is index 0)."""
    text = (PROC / str(pid) / "stat").read_text()
    return text.rsplit(")", 1)[1].split()


def parent_map() -> dict[int, int]:
    """pid -> ppid of every process visible now."""
    parents: dict[int, int] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parents[int(entry.name)] = int(_stat_fields(int(entry.name))[1])
        except (OSError, IndexError, ValueError):
            continue  # exited while we looked
    return parents


def process_tree(root: int) -> dict[int, int]:
    """``root`` and all its descendants, each with its depth below ``root``."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parent_map().items():
        children.setdefault(ppid, []).append(pid)
    if not (PROC / str(root)).exists():
        return {}
    depths = {root: 0}
    stack = [root]
    while stack:
        pid = stack.pop()
        for child in children.get(pid, []):
            depths[child] = depths[pid] + 1
            stack.append(child)
    return depths


def cmdline(pid: int) -> str:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


@dataclass(frozen=True)
class Memory:
    pss_kib: int  # private pages + each shared page divided by the processes sharing it
    rss_kib: int
    uss_kib: int  # private pages only: does not move when unrelated processes come and go


def memory(pid: int) -> Memory | None:
    """PSS, RSS and USS of one process from smaps_rollup; None if it is gone."""
    values: dict[str, int] = {}
    try:
        lines = (PROC / str(pid) / "smaps_rollup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, rest = line.partition(":")
        if key in ("Pss", "Rss", "Private_Clean", "Private_Dirty"):
            values[key] = int(rest.split()[0])
    if "Pss" not in values:
        return None
    private = values.get("Private_Clean", 0) + values.get("Private_Dirty", 0)
    return Memory(values["Pss"], values.get("Rss", 0), private)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time consumed so far by one process (not its children)."""
    try:
        fields = _stat_fields(pid)
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_snapshot(pids: Iterable[int]) -> dict[int, float]:
    snapshot: dict[int, float] = {}
    for pid in pids:
        seconds = cpu_seconds(pid)
        if seconds is not None:
            snapshot[pid] = seconds
    return snapshot


def machine_facts() -> dict[str, str]:
    """CPU model, memory and load average, as far as /proc tells."""
    facts: dict[str, str] = {}
    try:
        for line in (PROC / "cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                facts["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in (PROC / "meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                facts["memory"] = f"{int(line.split()[1]) // 1024} MiB"
                break
        facts["loadavg"] = " ".join((PROC / "loadavg").read_text().split()[:3])
    except OSError:
        pass
    return facts


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy so far (user, nice, system, irq, softirq, steal).

    Minus what the server under test and wrk used over the same interval, this is
    what other processes took from the machine: the noise of a measurement.
    """
    fields = (PROC / "stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def reset_peak_rss(pid: int) -> bool:
    """Reset the process's RSS high-water mark (VmHWM) to its current RSS (Linux >= 4.0)."""
    try:
        (PROC / str(pid) / "clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_kib(pid: int) -> int | None:
    """The RSS high-water mark (VmHWM) since the process started or its last reset."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None

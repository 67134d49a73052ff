"""1,000-row and bulk requests through warmserve, next to the model's in-process predict.

For each model one warmserve (the HTTP worker count chosen for it, a body limit
large enough for the bulk bodies) runs alone beside an in-process subprocess
holding the same model (``inprocess.py``). Every repeat takes turns:

1. in-process: ``pyfunc.predict`` on the 1,000-row frame for as long as one wrk
   cell (library threads, then one thread as the server's model process runs),
   each bulk frame for a second (at least once);
2. wrk with the 1,000-row body, JSON ``dataframe_split`` and CSV, at each client
   count: rows/s = req/s x 1,000;
3. one client posts each bulk body (JSON and CSV): wall time, and the peak
   memory of every server process during the request -- RSS from the kernel's
   high-water mark (VmHWM, reset just before), USS sampled from smaps_rollup --
   above what it held before, per row and as a multiple of the body's size.

All bodies hold the same rows (``bodies.py``), so both paths score the same data.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import statistics
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import bodies
import inprocess
import procfs
import servers
from bodies import Payload
from options import ROWS_PER_REQUEST
from servers import RunningServer, ServerSpec

if TYPE_CHECKING:
    from throughput import Bench

Row = dict[str, Any]
BULK_TIMEOUT = 300.0  # seconds for one bulk request: slow is measured as slow, not as failed
SAMPLE_INTERVAL = 0.02  # seconds between USS samples during a bulk request
MIB = 1024 * 1024


def server_flags(largest_body: int) -> tuple[str, ...]:
    """warmserve flags for the rows server: a body limit and a deadline that fit the bulk."""
    limit = max(32 * MIB, 2 * largest_body)
    return ("--max-body-bytes", str(limit), "--request-timeout", str(int(BULK_TIMEOUT)))


# --- memory during one request ------------------------------------------------
class PeakMemory:
    """Peak RSS (VmHWM, exact) and USS (sampled) of processes during a ``with`` block."""

    def __init__(self, roles: dict[int, str]) -> None:
        self.roles = roles
        self.base: dict[int, procfs.Memory] = {}
        self.peak_uss: dict[int, int] = {}
        self.peak_rss: dict[int, int] = {}
        self.hwm_reset = True
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        for pid in self.roles:
            found = procfs.memory(pid)
            if found is not None:
                self.base[pid] = found
                self.peak_uss[pid] = found.uss_kib
                self.hwm_reset = procfs.reset_peak_rss(pid) and self.hwm_reset
        self._sampler.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL):
            for pid in self.base:
                found = procfs.memory(pid)
                if found is not None:
                    self.peak_uss[pid] = max(self.peak_uss[pid], found.uss_kib)
                    self.peak_rss[pid] = max(self.peak_rss.get(pid, 0), found.rss_kib)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._sampler.join(timeout=10)
        for pid in self.base:
            hwm = procfs.peak_rss_kib(pid) if self.hwm_reset else None
            if hwm is not None:
                self.peak_rss[pid] = max(self.peak_rss.get(pid, 0), hwm)

    def by_role(self) -> dict[str, Row]:
        """Per role, the process that grew most: base and extra MiB of RSS and USS."""
        found: dict[str, Row] = {}
        for pid, base in self.base.items():
            role = self.roles[pid]
            extra_rss = max(0, self.peak_rss.get(pid, base.rss_kib) - base.rss_kib) / 1024
            extra_uss = max(0, self.peak_uss[pid] - base.uss_kib) / 1024
            if role not in found or extra_rss > found[role]["rss_extra_mib"]:
                found[role] = {
                    "pid": pid,
                    "rss_base_mib": round(base.rss_kib / 1024, 1),
                    "rss_extra_mib": round(extra_rss, 1),
                    "uss_base_mib": round(base.uss_kib / 1024, 1),
                    "uss_extra_mib": round(extra_uss, 1),
                }
        return found


# --- one bulk request ---------------------------------------------------------
def post(url: str, body: bytes, content_type: str, timeout: float) -> tuple[int, bytes]:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    connection = http.client.HTTPConnection(host, parts.port, timeout=timeout)
    try:
        connection.request("POST", parts.path, body=body, headers={"Content-Type": content_type})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def bulk_request(server: RunningServer, path: Path, fmt: str, rows: int) -> Row:
    """POST one bulk body; time it and watch every server process's memory meanwhile."""
    body = path.read_bytes()
    with PeakMemory(server.roles()) as memory:
        started = time.monotonic()
        status, answer = post(server.url, body, bodies.CONTENT_TYPES[fmt], BULK_TIMEOUT)
        seconds = time.monotonic() - started
    predicted = None
    if status == 200:
        with contextlib.suppress(ValueError, TypeError):
            predicted = len(json.loads(answer)["predictions"])
    by_role = memory.by_role()
    extra = {role: v["rss_extra_mib"] for role, v in by_role.items() if v["rss_extra_mib"] >= 1}
    print(
        f"    bulk {server.spec.model} {fmt} {rows:>7,} rows: {seconds:6.2f} s, "
        f"status {status}, extra RSS MiB {extra or '-'}",
        flush=True,
    )
    return {
        "model": server.spec.model,
        "format": fmt,
        "rows": rows,
        "body_bytes": len(body),
        "status": status,
        "ok": status == 200 and predicted == rows,
        "seconds": seconds,
        "memory": by_role,
        "hwm_exact": memory.hwm_reset,
    }


# --- the phase ----------------------------------------------------------------
def measure_rows(bench: Bench, best: dict[tuple[str, str], int], results: Row) -> None:
    """1,000-row cells, bulk requests and in-process predicts, model by model."""
    options = bench.options
    if not options.rows_phase:
        return
    print(f"rows: {ROWS_PER_REQUEST:,}-row and bulk requests, beside in-process predict")
    sizes = (ROWS_PER_REQUEST, *options.bulk_rows)
    paths = bodies.write_bodies(bench.out_dir, sizes)
    flags = server_flags(max(path.stat().st_size for path in paths.values()))
    for model in options.models:
        spec = ServerSpec("warmserve", model, best[("warmserve", model)], flags)
        uri = f"models:/{servers.MODEL_NAMES[model]}@production"
        env = servers.venv_env(bench.bin_dir, bench.home)
        log = bench.log_dir / f"inprocess-{model}.log"
        with (
            bench.running(spec) as server,
            inprocess.running(bench.bin_dir / "python", uri, env, log) as local,
        ):
            for repeat in range(options.repeats):
                print(f"  {model}: repeat {repeat + 1}/{options.repeats}", flush=True)
                _inprocess(local, model, paths, (ROWS_PER_REQUEST,), options.inprocess_calls,
                           options.duration, repeat, results)  # fmt: skip
                for clients in options.row_clients:
                    for fmt in bodies.FORMATS:
                        payload = Payload(paths[(ROWS_PER_REQUEST, fmt)], fmt, ROWS_PER_REQUEST)
                        bench.load(server, clients, options.cell_warmup, payload)
                        cell = bench.measure(server, clients, options.duration, payload)
                        cell.update(rows=ROWS_PER_REQUEST, format=fmt, repeat=repeat)
                        results["row_cells"].append(cell)
                for rows in options.bulk_rows:
                    for fmt in bodies.FORMATS:
                        found = bulk_request(server, paths[(rows, fmt)], fmt, rows)
                        results["bulk"].append({**found, "repeat": repeat})
                _inprocess(local, model, paths, options.bulk_rows, 1, 1.0, repeat, results)


def _inprocess(
    local: inprocess.InProcess,
    model: str,
    paths: dict[tuple[int, str], Path],
    sizes: tuple[int, ...],
    calls: int,
    seconds: float,
    repeat: int,
    results: Row,
) -> None:
    """In-process predict on each size: library threads always, one thread for 1,000 rows."""
    for rows in sizes:
        for threads in (None, 1) if rows == ROWS_PER_REQUEST else (None,):
            timeout = seconds + BULK_TIMEOUT * calls
            found = local.measure(paths[(rows, "csv")], calls, seconds, threads, timeout)
            median = statistics.median(found["seconds"])
            print(
                f"    in-process {model} {rows:>7,} rows, threads {threads or 'library'}: "
                f"{median * 1000:8.1f} ms ({rows / median:,.0f} rows/s)",
                flush=True,
            )
            results["inprocess"].append(
                {"model": model, "rows": rows, "threads": threads, "repeat": repeat, **found}
            )

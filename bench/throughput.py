"""Throughput, latency and memory: warmserve vs `mlflow models serve` vs a constant endpoint.

    bash bench/setup.sh                          # once: wrk (apt) and py-spy (into .venv)
    .venv/bin/python bench/throughput.py         # full run, ~60 min; writes docs/benchmarks.md
    .venv/bin/python bench/throughput.py --quick # smoke test, ~5 min; docs left alone

Phases, all in one run so that the ratios are comparable:

1. registry: bench/.home gets bench-lr (LogisticRegression), bench-rf
   (RandomForest, 200 trees, depth 12), bench-xgb and bench-lgbm (XGBoost and
   LightGBM classifiers, 200 trees, logged with their own MLflow flavors), 20
   float features, alias production.
2. selection: each warmserve worker count (1, 2, 4) and each `mlflow models serve`
   worker count (1, 2) runs alone: warm-up, PSS at rest, one probe at the peak
   client count, PSS again. The best worker count per server and model goes on.
3. batching sweep (optional): warmserve at its best worker count with other
   --max-batch-delay-ms values, one probe each.
4. main: the chosen servers run side by side and every (server, clients) cell
   is measured round-robin, ``--repeats`` times; the report gives medians.
5. profile: py-spy samples the warmserve runner and one HTTP worker during an
   extra peak-client run (not one of the measured ones).
6. rows (bulk.py): per model, warmserve alone beside an in-process predict of
   the same model: 1,000-row requests (JSON and CSV) at a few client counts,
   bulk requests (10,000 and 100,000 rows, one client) with each process's peak
   memory, and in-process ``pyfunc.predict`` on the same rows, taking turns.

Each warmserve row names the predictor that served it (GET /model). Every
measured cell also records how many cores other processes kept busy meanwhile
(/proc/stat minus the server and wrk): the report's noise note.

Raw results: bench/results/throughput-STAMP.json (logs and profiles beside it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

import bodies
import bulk
import loadgen
import procfs
import profiling
import report
import servers
import targets
from bodies import Payload
from options import Options, parse_args, reproduce_command
from servers import RunningServer, ServerSpec

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
HOME = BENCH / ".home"
RESULTS = BENCH / "results"
DOCS = ROOT / "docs" / "benchmarks.md"
BIN_DIR = Path(sys.executable).parent  # the venv's bin: warmserve, mlflow, uvicorn, py-spy
PREPARED = "BENCH_MODELS "  # the line where prepare_registry.py describes the models
VERSIONED = (
    "warmserve",
    "mlflow",
    "scikit-learn",
    "xgboost",
    "xgboost-cpu",  # the same `xgboost` module without the GPU build
    "lightgbm",
    "treelite",
    "pandas",
    "numpy",
    "fastapi",
    "uvicorn",
    "uvloop",
    "httptools",
)

Row = dict[str, Any]


# --- preparation --------------------------------------------------------------
def check_tools(options: Options) -> None:
    missing = [tool for tool in ("wrk",) if shutil.which(tool) is None]
    if options.profile and not (BIN_DIR / "py-spy").exists():
        missing.append("py-spy (in the venv)")
    if missing:
        sys.exit(f"missing {', '.join(missing)}: run `bash bench/setup.sh` first")


def prepare_registry(models: tuple[str, ...]) -> Row:
    """Train and register the bench models unless up to date (in a subprocess).

    Returns what each model is: name, version, training recipe and pipeline.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WARMSERVE_", "MLFLOW_"))}
    command = [sys.executable, str(BENCH / "prepare_registry.py"), "--home", str(HOME)]
    done = subprocess.run(
        [*command, "--models", ",".join(models)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    described: Row = {}
    for line in done.stdout.splitlines():
        if line.startswith(PREPARED):
            described = json.loads(line[len(PREPARED) :])
        else:
            print(f"  {line}", flush=True)
    return described


def src_digest() -> str:
    """A digest of warmserve's source, taken at each server start (others edit it)."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "src" / "warmserve").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def machine_meta(options: Options, argv: list[str]) -> Row:
    versions: dict[str, str] = {}
    for name in VERSIONED:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    versions["wrk"] = (wrk.stdout or wrk.stderr).split()[1] if (wrk.stdout or wrk.stderr) else "?"
    facts = procfs.machine_facts()
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "nproc": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": facts.get("cpu", "?"),
        "memory": facts.get("memory", "?"),
        "loadavg_start": facts.get("loadavg", "?"),
        "git": _git_revision(),
        "versions": versions,
        "command": reproduce_command(argv),
        "note": options.note,
    }


def _git_revision() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    revision = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "src")
    return revision + (" (src/ with uncommitted changes)" if dirty else "")


# --- measuring one server -----------------------------------------------------
class Bench:
    def __init__(self, options: Options, out_dir: Path) -> None:
        self.options = options
        self.out_dir = out_dir
        self.bin_dir = BIN_DIR
        self.home = HOME
        self.log_dir = out_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.body = bodies.one_row_json()
        self.one_row = Payload(out_dir / "body.json")
        self.one_row.path.write_bytes(self.body)
        self.src_digests: list[str] = []
        self.predictors: dict[str, Row | None] = {}  # server label -> what /model said

    def running(self, spec: ServerSpec) -> contextlib.AbstractContextManager[RunningServer]:
        print(f"  start {spec.label}", flush=True)
        self.note_src()
        return servers.running(spec, self.body, bin_dir=BIN_DIR, home=HOME, log_dir=self.log_dir)

    def note_src(self) -> None:
        """Remember the warmserve source each server starts from."""
        digest = src_digest()
        if digest not in self.src_digests:
            self.src_digests.append(digest)
            if len(self.src_digests) > 1:
                print(f"  warning: src/warmserve changed during the run ({digest})", flush=True)

    def load(
        self, server: RunningServer, connections: int, seconds: int, payload: Payload | None = None
    ) -> loadgen.WrkResult:
        """wrk against the server: the one-row JSON body unless another payload is given."""
        payload = payload or self.one_row
        env = {"WRK_CONTENT_TYPE": payload.content_type}
        return loadgen.run_wrk(server.url, connections, seconds, payload.path, env)

    def predictor(self, server: RunningServer) -> str | None:
        """The name of warmserve's predictor (asked once per server); None for other servers."""
        if server.spec.kind != "warmserve":
            return None
        if server.spec.label not in self.predictors:
            self.predictors[server.spec.label] = server.predictor()
        found = self.predictors[server.spec.label]
        return str(found["name"]) if found else "?"

    def measure(
        self, server: RunningServer, connections: int, seconds: int, payload: Payload | None = None
    ) -> Row:
        """One wrk run, with the CPU each process of the server (and all others) used."""
        payload = payload or self.one_row
        roles = server.roles()
        batches_before = server.runner_batches()
        before = procfs.cpu_snapshot(roles)
        busy_before = procfs.machine_busy_seconds()
        started = time.monotonic()
        result = self.load(server, connections, seconds, payload)
        wall = time.monotonic() - started
        busy = procfs.machine_busy_seconds() - busy_before
        after = procfs.cpu_snapshot(roles)
        batches_after = server.runner_batches()
        rows_per_batch = None
        if batches_before is not None and batches_after is not None:
            calls = max(1, batches_after - batches_before)
            rows_per_batch = round(payload.rows * result.requests / calls, 1)
        cpu: dict[str, float] = defaultdict(float)
        for pid, seconds_before in before.items():
            if pid in after:
                cpu[roles[pid]] += 100.0 * (after[pid] - seconds_before) / wall
        # Cores that processes other than this server and wrk kept busy meanwhile.
        other = busy / wall - sum(cpu.values()) / 100 - result.wrk_cpu_seconds / wall
        spec = server.spec
        what = spec.label
        if payload.rows > 1:
            what = f"{spec.kind} {spec.model} w{spec.workers} {payload.fmt} x{payload.rows}"
        print(
            f"    {what:<28} c={connections:<3} {result.rps:>9,.0f} req/s  "
            f"p50 {result.p50_ms:6.1f} ms  p99 {result.p99_ms:6.1f} ms  "
            f"non-2xx {result.non_2xx}  others {max(0.0, other):.2f} cores"
            + (f"  rows/batch {rows_per_batch}" if rows_per_batch else ""),
            flush=True,
        )
        return {
            "label": spec.label,
            "kind": spec.kind,
            "model": spec.model,
            "workers": spec.workers,
            "flags": list(spec.flags),
            "predictor": self.predictor(server),
            "connections": connections,
            "wrk": result.to_dict(),
            "cpu_pct": {role: round(value, 1) for role, value in sorted(cpu.items())},
            "other_cores": round(max(0.0, other), 2),
            "rows_per_batch": rows_per_batch,
        }

    @staticmethod
    def memory(server: RunningServer) -> Row:
        """Total PSS of the server's process tree, and per role."""
        by_role: dict[str, float] = defaultdict(float)
        processes: list[Row] = []
        for pid, role in server.roles().items():
            mem = procfs.memory(pid)
            if mem is None:
                continue
            pss, rss, uss = mem.pss_kib / 1024, mem.rss_kib / 1024, mem.uss_kib / 1024
            by_role[role] += pss
            processes.append(
                {"pid": pid, "role": role, "pss_mib": pss, "rss_mib": rss, "uss_mib": uss}
            )
        return {
            "total_mib": round(sum(by_role.values()), 1),
            "uss_total_mib": round(sum(p["uss_mib"] for p in processes), 1),
            "by_role": {role: round(value, 1) for role, value in sorted(by_role.items())},
            "processes": processes,
        }

    def probe_alone(self, spec: ServerSpec) -> Row:
        """Start ``spec`` alone: warm up, PSS at rest, one peak probe, PSS after."""
        peak = self.options.peak
        with self.running(spec) as server:
            self.load(server, peak, self.options.warmup)
            idle = self.memory(server)
            probe = self.measure(server, peak, self.options.probe)
            loaded = self.memory(server)
        return {
            **{k: probe[k] for k in ("label", "kind", "model", "workers", "flags", "predictor")},
            "ready_seconds": round(server.ready_seconds, 2),
            "probe": probe["wrk"],
            "cpu_pct": probe["cpu_pct"],
            "rows_per_batch": probe["rows_per_batch"],
            "memory_idle": idle,
            "memory_loaded": loaded,
        }


# --- phases -------------------------------------------------------------------
def select_workers(bench: Bench, results: Row) -> dict[tuple[str, str], int]:
    """Probe every worker count alone; return the best per (kind, model)."""
    print("selection: worker counts, one server at a time", flush=True)
    best: dict[tuple[str, str], int] = {}
    counts = {"warmserve": bench.options.warmserve_workers, "mlflow": bench.options.mlflow_workers}
    for kind, workers in counts.items():
        for model in bench.options.models:
            rows = [bench.probe_alone(ServerSpec(kind, model, n)) for n in workers]
            results["selection"].extend(rows)
            winner = max(rows, key=lambda row: row["probe"]["rps"])
            best[(kind, model)] = winner["workers"]
            print(f"  best {kind} {model}: {winner['workers']} worker(s)", flush=True)
    results["best_workers"] = {f"{k} {m}": n for (k, m), n in best.items()}
    return best


def sweep_batching(bench: Bench, best: dict[tuple[str, str], int], results: Row) -> None:
    if not bench.options.sweep_delays:
        return
    print("sweep: --max-batch-delay-ms", flush=True)
    for model in bench.options.models:
        workers = best[("warmserve", model)]
        default = next(
            row
            for row in results["selection"]
            if row["kind"] == "warmserve" and row["model"] == model and row["workers"] == workers
        )
        results["sweep"].append(default)
        for delay in bench.options.sweep_delays:
            spec = ServerSpec("warmserve", model, workers, ("--max-batch-delay-ms", delay))
            results["sweep"].append(bench.probe_alone(spec))


def main_specs(options: Options, best: dict[tuple[str, str], int]) -> list[ServerSpec]:
    specs = [ServerSpec("warmserve", m, best[("warmserve", m)]) for m in options.models]
    ceiling_workers = best[("warmserve", "lr" if "lr" in options.models else options.models[0])]
    specs.append(ServerSpec("constant", None, ceiling_workers))
    specs += [ServerSpec("mlflow", m, best[("mlflow", m)]) for m in options.models]
    return specs


def measure_all(bench: Bench, specs: list[ServerSpec], results: Row) -> None:
    """Run the servers side by side; measure every cell round-robin, then profile."""
    options = bench.options
    print("main: all cells, round-robin over the servers", flush=True)
    print(f"  start {', '.join(spec.label for spec in specs)}", flush=True)
    bench.note_src()
    with servers.running_all(
        specs, bench.body, bin_dir=BIN_DIR, home=HOME, log_dir=bench.log_dir
    ) as running:
        for server in running:
            bench.load(server, options.peak, options.warmup)
        for repeat in range(options.repeats):
            print(f"  repeat {repeat + 1}/{options.repeats}", flush=True)
            for connections in options.connections:
                for server in running:
                    bench.load(server, connections, options.cell_warmup)
                    cell = bench.measure(server, connections, options.duration)
                    results["cells"].append({**cell, "repeat": repeat})
        if options.profile:
            for server in running:
                if server.spec.kind == "warmserve":
                    results["profiles"][server.spec.model] = profile(bench, server)


def profile(bench: Bench, server: RunningServer) -> Row:
    """py-spy on the runner and one HTTP worker during an extra peak-client run."""
    seconds = min(bench.options.duration, 10)
    runner = server.pids_of("runner")[0]
    worker = server.pids_of("http-worker")[0]
    name = f"profile-{server.spec.model}"
    outputs = {"runner": bench.out_dir / f"{name}-runner.txt"}
    outputs["http_worker"] = bench.out_dir / f"{name}-http-worker.txt"
    py_spy = BIN_DIR / "py-spy"
    samplers = [
        profiling.start_record(py_spy, runner, seconds, outputs["runner"]),
        profiling.start_record(py_spy, worker, seconds, outputs["http_worker"]),
    ]
    print(f"  profile {server.spec.label} (runner {runner}, http worker {worker})", flush=True)
    result = bench.load(server, bench.options.peak, seconds + 1)
    for sampler in samplers:
        sampler.wait(timeout=seconds + 60)
    summary: Row = {"workers": server.spec.workers, "wrk": result.to_dict()}
    for process, path in outputs.items():
        threads = profiling.summarize(path) if path.exists() else []
        summary[process] = [thread.to_dict() for thread in threads]
        summary[f"{process}_raw"] = str(path.relative_to(ROOT))
    return summary


# --- entry --------------------------------------------------------------------
def run(options: Options, argv: list[str]) -> Row:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = RESULTS / f"throughput-{stamp}"
    out_dir.mkdir(parents=True, exist_ok=True)
    results: Row = {
        "meta": machine_meta(options, argv),
        "options": asdict(options),
        "complete": False,
        "selection": [],
        "sweep": [],
        "cells": [],
        "profiles": {},
        "row_cells": [],
        "bulk": [],
        "inprocess": [],
        "predictors": {},
    }
    json_path = RESULTS / f"throughput-{stamp}.json"
    started = time.monotonic()
    try:
        print("registry: bench/.home", flush=True)
        results["meta"]["models"] = prepare_registry(options.models)
        bench = Bench(options, out_dir)
        results["meta"]["src_digests"] = bench.src_digests  # filled as servers start
        results["predictors"] = bench.predictors  # filled as servers are measured
        best = select_workers(bench, results)
        sweep_batching(bench, best, results)
        measure_all(bench, main_specs(options, best), results)
        bulk.measure_rows(bench, best, results)
        results["complete"] = True
    finally:
        results["meta"]["loadavg_end"] = procfs.machine_facts().get("loadavg", "?")
        results["meta"]["seconds"] = round(time.monotonic() - started)
        results["summary"] = report.summarize_cells(results["cells"])
        results["row_summary"] = report.summarize_cells(results["row_cells"])
        if results["complete"]:
            results["ratios"], results["targets"] = targets.ratios_and_targets(results)
        json_path.write_text(json.dumps(results, indent=2, default=str))
        print(f"raw results: {json_path.relative_to(ROOT)}", flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    options = parse_args(argv)
    check_tools(options)
    results = run(options, argv)
    markdown = report.render(results)
    print("\n" + markdown)
    if options.write_docs:
        report.write_docs(DOCS, markdown)
        print(f"wrote {DOCS.relative_to(ROOT)}")
    print(f"total {results['meta']['seconds']} s")


if __name__ == "__main__":
    main()

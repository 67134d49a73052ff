"""The options of bench/throughput.py: a full run, or ``--quick`` as a smoke test."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import servers

ROWS_PER_REQUEST = 1000  # the "1,000-row requests"


@dataclass(frozen=True)
class Options:
    models: tuple[str, ...]
    connections: tuple[int, ...]
    duration: int
    repeats: int
    warmup: int
    cell_warmup: int
    probe: int
    warmserve_workers: tuple[int, ...]
    mlflow_workers: tuple[int, ...]
    sweep_delays: tuple[str, ...]
    row_clients: tuple[int, ...]  # client counts of the 1,000-row requests ( () = skip them)
    bulk_rows: tuple[int, ...]  # rows of the one-client bulk requests ( () = skip them)
    inprocess_calls: int  # timed in-process predict calls per repeat, 1,000-row frame
    profile: bool
    write_docs: bool
    quick: bool
    note: str

    @property
    def peak(self) -> int:
        return max(self.connections)

    @property
    def rows_phase(self) -> bool:
        return bool(self.row_clients or self.bulk_rows)


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part)


def parse_args(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(
        description="warmserve throughput benchmark (see the module docstring)."
    )
    known = ", ".join(servers.MODEL_NAMES)
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 repeat, 3 s runs")
    parser.add_argument("--models", default=",".join(servers.MODEL_NAMES), help=known)
    parser.add_argument("--duration", type=int, help="seconds per measured run (default 10)")
    parser.add_argument("--repeats", type=int, help="measured runs per cell (default 3)")
    parser.add_argument("--connections", help="client counts (default 1,16,64)")
    parser.add_argument("--workers", help="warmserve HTTP worker counts (default 1,2,4)")
    parser.add_argument("--mlflow-workers", help="mlflow models serve workers (default 1,2)")
    parser.add_argument(
        "--sweep-delays",
        help="extra --max-batch-delay-ms values to probe (default 0,3; '' for none)",
    )
    parser.add_argument(
        "--row-clients",
        help=f"client counts of {ROWS_PER_REQUEST:,}-row requests (default 1,4,16; '' for none)",
    )
    parser.add_argument(
        "--bulk-rows", help="rows of the one-client bulk requests (default 10000,100000; '' none)"
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite the docs page")
    parser.add_argument("--note", default="", help="a sentence for the report (e.g. noise)")
    args = parser.parse_args(argv)
    quick = args.quick
    models = tuple(m for m in args.models.split(",") if m)
    unknown = set(models) - set(servers.MODEL_NAMES)
    if unknown or not models:
        parser.error(f"--models takes some of {known}, not {args.models!r}")
    sweep = args.sweep_delays if args.sweep_delays is not None else ("" if quick else "0,3")
    row_clients = "1,4" if quick else "1,4,16"
    row_clients = args.row_clients if args.row_clients is not None else row_clients
    bulk = args.bulk_rows if args.bulk_rows is not None else "10000,100000"
    duration = args.duration or (3 if quick else 10)
    return Options(
        models=models,
        connections=_ints(args.connections or ("1,64" if quick else "1,16,64")),
        duration=duration,
        repeats=args.repeats or (1 if quick else 3),
        warmup=1 if quick else 3,
        cell_warmup=1,
        probe=min(duration, 5),
        warmserve_workers=_ints(args.workers or ("2" if quick else "1,2,4")),
        mlflow_workers=_ints(args.mlflow_workers or ("2" if quick else "1,2")),
        sweep_delays=tuple(d for d in sweep.split(",") if d),
        row_clients=_ints(row_clients),
        bulk_rows=_ints(bulk),
        inprocess_calls=5 if quick else 10,
        profile=not args.no_profile,
        write_docs=not (args.no_docs or quick),
        quick=quick,
        note=args.note,
    )


def reproduce_command(argv: list[str]) -> str:
    """The command line of this run, without --note (which only annotates)."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--note":
            skip = True
            continue
        if not arg.startswith("--note="):
            kept.append(arg)
    return " ".join(["bash bench/setup.sh && .venv/bin/python bench/throughput.py", *kept])

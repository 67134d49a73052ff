"""Before and after, in one run: this tree's warmserve against an earlier commit's.

    bash bench/setup.sh
    .venv/bin/python bench/throughput.py --quick --no-docs   # once: registers the bench models
    .venv/bin/python bench/regression.py --baseline 62c95dc  # ~10 min

The baseline commit is checked out into ``bench/.baseline/<commit>`` with a venv of
its own (once). Both serve the same registered models from ``bench/.home``; each
round measures every server in turn (wrk, one-row requests, 1 and 64 clients), and
the table gives the median of the rounds. This tree runs twice: as it is, and with
``--compiled-models false``, so the effect of the compiled predictors is separated
from that of everything else. The table is printed as Markdown.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bodies import one_row_json
from loadgen import run_wrk
from servers import ServerSpec, start

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
HOME = BENCH / ".home"


def baseline_bin(commit: str) -> Path:
    """The bin directory of a venv holding warmserve at ``commit`` (made once)."""
    tree = BENCH / ".baseline" / commit
    venv = tree / ".venv"
    if not (venv / "bin" / "warmserve").exists():
        if not tree.exists():
            tree.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), commit],
                check=True,
            )
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-e", str(tree)], check=True)
    return venv / "bin"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="git commit to compare with")
    parser.add_argument("--models", default="lr,rf")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    here = Path(sys.executable).parent
    base = baseline_bin(args.baseline)
    body_dir = Path(tempfile.mkdtemp(prefix="warmserve-regression-"))
    body_file = body_dir / "one-row.json"
    body_file.write_bytes(one_row_json())
    servers = []
    for model in args.models.split(","):
        servers += [
            (f"{args.baseline}", model, base, ()),
            ("this tree, compiled off", model, here, ("--compiled-models", "false")),
            ("this tree", model, here, ()),
        ]
    found: dict[tuple[str, str, int], list[tuple[float, float]]] = {}
    for round_ in range(args.rounds):
        for label, model, bin_dir, flags in servers:
            spec = ServerSpec("warmserve", model, args.workers, flags)
            server = start(spec, bin_dir=bin_dir, home=HOME, log_dir=body_dir)
            try:
                server.wait_ready(one_row_json())
                url = f"http://127.0.0.1:{server.port}/invocations"
                run_wrk(url, 16, 3, body_file)  # warm-up
                for clients in (1, 64):
                    result = run_wrk(url, clients, args.seconds, body_file)
                    if result.non_2xx:
                        sys.exit(f"{label} {model}: {result.non_2xx} non-2xx answers")
                    found.setdefault((label, model, clients), []).append(
                        (result.rps, result.p50_ms)
                    )
            finally:
                server.stop()
            print(f"round {round_ + 1}: {label} {model} done", file=sys.stderr, flush=True)
    print("| server | model | req/s, 1 client | p50, 1 client (ms) | req/s, 64 | p50, 64 (ms) |")
    print("|---|---|---:|---:|---:|---:|")
    for label, model, _, _ in servers:
        one = found[(label, model, 1)]
        many = found[(label, model, 64)]
        print(
            f"| {label} | {model} | {statistics.median(r for r, _ in one):,.0f} | "
            f"{statistics.median(p for _, p in one):.2f} | "
            f"{statistics.median(r for r, _ in many):,.0f} | "
            f"{statistics.median(p for _, p in many):.1f} |"
        )


if __name__ == "__main__":
    main()

"""The 1,000-row, bulk and in-process part of the throughput report (see bulk.py)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

Row = dict[str, Any]
ROLES = ("http-worker", "runner")  # the processes a request's data passes through
MIB = 1024 * 1024


# --- aggregation --------------------------------------------------------------
def inprocess_rows_per_s(results: Row, model: str, rows: int, threads: int | None) -> float | None:
    """Rows/s of the median in-process predict call over all repeats, or None."""
    seconds = [
        s
        for found in results.get("inprocess", [])
        if found["model"] == model and found["rows"] == rows and found["threads"] == threads
        for s in found["seconds"]
    ]
    return rows / statistics.median(seconds) if seconds else None


def inprocess_yardstick(results: Row, model: str, rows: int) -> float | None:
    """In-process rows/s to hold the server to: the faster of library threads and one thread.

    On a shared machine a library's own OpenMP pool can slow it several-fold; the
    target should not be met by comparing with that.
    """
    found = [inprocess_rows_per_s(results, model, rows, threads) for threads in (None, 1)]
    known = [value for value in found if value is not None]
    return max(known) if known else None


def best_row_cell(results: Row, model: str, fmt: str) -> Row | None:
    """The client count with the most rows/s for (model, format), from the medians."""
    cells = [
        row
        for row in results.get("row_summary", [])
        if row["model"] == model and row["format"] == fmt
    ]
    return max(cells, key=lambda row: row["rps"]) if cells else None


def bulk_summary(results: Row) -> list[Row]:
    """Per (model, format, rows): median seconds and median extra memory by role."""
    groups: dict[tuple[str, str, int], list[Row]] = defaultdict(list)
    for found in results.get("bulk", []):
        groups[(found["model"], found["format"], found["rows"])].append(found)
    summary: list[Row] = []
    for (model, fmt, rows), runs in groups.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        memory: dict[str, Row] = {}
        for role in ROLES:
            present = [r["memory"][role] for r in runs if role in r["memory"]]
            if present:
                memory[role] = {
                    key: statistics.median(p[key] for p in present)
                    for key in ("rss_extra_mib", "uss_extra_mib", "rss_base_mib")
                }
        summary.append(
            {
                "model": model,
                "format": fmt,
                "rows": rows,
                "body_bytes": runs[0]["body_bytes"],
                "repeats": len(runs),
                "failed": sum(not r["ok"] for r in runs),
                "seconds": seconds,
                "rows_per_s": rows / seconds if seconds else 0.0,
                "inprocess_rows_per_s": inprocess_rows_per_s(results, model, rows, None),
                "memory": memory,
                "hwm_exact": all(r.get("hwm_exact", False) for r in runs),
            }
        )
    order = {model: n for n, model in enumerate(_models(results, summary))}
    summary.sort(key=lambda r: (order[r["model"]], r["format"] != "json", r["rows"]))
    return summary


# --- markdown -----------------------------------------------------------------
def predictor_text(info: Row | None, rows: int) -> str:
    if not info:
        return "-"
    name = str(info.get("name"))
    up_to = info.get("up_to_rows")
    if name == "compiled-trees" and isinstance(up_to, int) and rows > up_to:
        return f"compiled-trees, its fallback above {up_to} rows"
    return name


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _predictors_by_model(results: Row) -> dict[str, Row | None]:
    """The predictor each model's rows server reported (labels carry the bulk flags)."""
    found: dict[str, Row | None] = {}
    for label, info in (results.get("predictors") or {}).items():
        parts = label.split()
        if parts[0] == "warmserve" and "--max-body-bytes" in parts:
            found[parts[1]] = info
    return found


def rows_table(results: Row) -> list[str]:
    predictors = _predictors_by_model(results)
    lines = [
        "| model | predictor | body | clients | rows/s (median) | req/s | p50 ms | p99 ms "
        "| rows/s min-max | CPU % by process | non-2xx |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---|---:|",
    ]
    for row in results.get("row_summary", []):
        n = row["rows"]
        cpu = ", ".join(
            f"{role} {value:.0f}" for role, value in sorted(row["cpu_pct"].items()) if value >= 1
        )
        lines.append(
            f"| {row['model']} | {predictor_text(predictors.get(row['model']), n)} "
            f"| {row['format'].upper()} | {row['connections']} | {row['rps'] * n:,.0f} "
            f"| {row['rps']:,.1f} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} "
            f"| {row['rps_min'] * n:,.0f}-{row['rps_max'] * n:,.0f} | {cpu} | {row['non_2xx']} |"
        )
    return lines


def _models(results: Row, found: list[Row]) -> list[str]:
    """The models in ``found``, in the order the run measured them."""
    present = {row["model"] for row in found}
    return [m for m in results.get("options", {}).get("models", []) if m in present] or sorted(
        present
    )


def inprocess_table(results: Row, rows: int) -> list[str]:
    models = _models(results, results.get("inprocess", []))
    lines = [
        "| model | in-process rows/s, library threads | in-process rows/s, 1 thread "
        "| server rows/s JSON (clients) | server / in-process JSON "
        "| server rows/s CSV (clients) | server / in-process CSV |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for model in models:
        local = inprocess_yardstick(results, model, rows)
        cells = []
        for fmt in ("json", "csv"):
            best = best_row_cell(results, model, fmt)
            if best is None:
                cells += ["-", "-"]
                continue
            served = best["rps"] * rows
            ratio = f"{served / local:.2f}" if local else "-"
            cells += [f"{served:,.0f} ({best['connections']})", ratio]
        lines.append(
            f"| {model} | {_rate(inprocess_rows_per_s(results, model, rows, None))} "
            f"| {_rate(inprocess_rows_per_s(results, model, rows, 1))} | {' | '.join(cells)} |"
        )
    return lines


def _extra_mib(row: Row) -> float:
    """The HTTP worker's and the runner's extra RSS together during one bulk request."""
    return float(sum(row["memory"][r]["rss_extra_mib"] for r in ROLES if r in row["memory"]))


def bulk_table(summary: list[Row]) -> list[str]:
    lines = [
        "| model | body | rows | body MiB | seconds (median) | rows/s | in-process rows/s "
        "| HTTP worker +RSS / +USS MiB | runner +RSS / +USS MiB | bytes per row "
        "| x body | failed |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in summary:
        mem = row["memory"]

        def role(name: str, mem: Row = mem) -> str:
            found = mem.get(name)
            if not found:
                return "-"
            return f"{found['rss_extra_mib']:,.0f} / {found['uss_extra_mib']:,.0f}"

        extra = _extra_mib(row) * MIB
        lines.append(
            f"| {row['model']} | {row['format'].upper()} | {row['rows']:,} "
            f"| {row['body_bytes'] / MIB:.1f} | {row['seconds']:.2f} | {row['rows_per_s']:,.0f} "
            f"| {_rate(row['inprocess_rows_per_s'])} | {role('http-worker')} | {role('runner')} "
            f"| {extra / row['rows']:,.0f} | {extra / row['body_bytes']:.1f} | {row['failed']} |"
        )
    return lines


def scaling_lines(summary: list[Row]) -> list[str]:
    """Largest vs smallest bulk size: time and memory growth against the growth in rows."""
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in summary:
        groups[(row["model"], row["format"])].append(row)
    lines: list[str] = []
    for (model, fmt), rows in groups.items():
        if len(rows) < 2:
            continue
        small, large = rows[0], rows[-1]
        factor = large["rows"] / small["rows"]
        grew = _extra_mib(large) / _extra_mib(small) if _extra_mib(small) >= 1 else None
        memory = "-" if grew is None else f"{grew:.1f}x"
        lines.append(
            f"- {model} {fmt.upper()}: {factor:g}x the rows took "
            f"{large['seconds'] / small['seconds']:.1f}x the time and {memory} the extra "
            f"memory (worker + runner RSS)."
        )
    return lines


def render_rows(results: Row, rows: int) -> list[str]:
    """The report's sections on many-row requests (empty when the phase did not run)."""
    options = results["options"]
    lines: list[str] = []
    if results.get("row_summary"):
        lines += [
            f"### {rows:,}-row requests",
            "",
            f"One warmserve per model, alone, with the HTTP worker count chosen above; wrk posts "
            f"one {rows:,}-row body (`dataframe_split` JSON, or CSV with a header) for "
            f"{options['duration']} s per cell, {options['repeats']} repeat(s); rows/s = "
            f"req/s x {rows:,}. Each repeat first runs in-process "
            f"`pyfunc.predict` on the same rows (below).",
            "",
            *rows_table(results),
            "",
            f"In-process `mlflow.pyfunc.load_model(...).predict(frame)` on the same {rows:,} rows "
            f"(a float64 DataFrame read from the CSV body), the median call of all repeats "
            f"(each repeat calls for {options['duration']} s, at least "
            f"{options['inprocess_calls']} times), in a subprocess beside the idle server; "
            "\"1 thread\" inside threadpoolctl's limit, as the server's model process "
            "runs (`model_threads=1`). The server column is the best client count above; "
            "the ratios (and the target) hold it to the faster of the two in-process figures.",
            "",
            *inprocess_table(results, rows),
            "",
        ]
    summary = bulk_summary(results)
    if summary:
        lines += [
            "### Bulk requests (one client)",
            "",
            "One request at a time on the same server. Memory: for each process, the most it "
            "held during the request above what it held just before -- RSS from the kernel's "
            "high-water mark (VmHWM, reset just before the request), USS (private pages) "
            "sampled every 20 ms; with several HTTP workers, the one that took the request. "
            "Bytes per row and x body: the worker's and the runner's extra RSS together, per "
            "row and as a multiple of the request body (a path that holds the body once in "
            "each process would show about 2). In-process rows/s: `pyfunc.predict` on the "
            "same rows, for a second (at least once) per repeat, the median call.",
            "",
            *bulk_table(summary),
            "",
            *scaling_lines(summary),
            "",
        ]
    return lines

"""Targets of a throughput run: ratios measured in the same run, each with a verdict.

The current targets are issue 14's, all ratios (absolute figures differ several-fold
between machines); the earlier ones of the first benchmark stay beside them.
"""

from __future__ import annotations

from typing import Any

import report_rows
from options import ROWS_PER_REQUEST

Row = dict[str, Any]
CURRENT = "issue 14"

TREES_SHARE_OF_LR = 0.8  # RF, XGB, LGBM req/s at the peak client count vs warmserve LR
LR_SHARE_OF_CEILING = 0.7  # LR req/s at the peak client count vs the constant endpoint
P50_TIMES_CEILING = {"lr": 3.0, "rf": 4.0}  # p50 at one client vs the constant endpoint's
ROWS_SHARE_OF_INPROCESS = 0.7  # 1,000-row requests rows/s vs the model's in-process predict
# Earlier targets (the first benchmark).
LR_TIMES_MLFLOW = 30.0
RF_MIN_RPS = 2500.0
P99_MAX_MS = 50.0
PSS_GROWTH_MAX = 1.3


def cell(summary: list[Row], kind: str, model: str | None, connections: int) -> Row | None:
    for row in summary:
        if row["kind"] == kind and row["model"] == model and row["connections"] == connections:
            return row
    return None


def _memory(selection: list[Row], kind: str, model: str, workers: int) -> Row | None:
    for row in selection:
        if row["kind"] == kind and row["model"] == model and row["workers"] == workers:
            return row
    return None


class Targets:
    def __init__(self, ratios: dict[str, float]) -> None:
        self.rows: list[Row] = []
        self.ratios = ratios

    def add(self, group: str, name: str, value: str | None, met: bool | None) -> None:
        self.rows.append(
            {"group": group, "target": name, "value": value or "not measured", "met": met}
        )

    def rps_share(
        self, name: str, ratio: str, ours: Row | None, base: Row | None, minimum: float
    ) -> None:
        """Target ``name``: ``ours`` req/s >= ``minimum`` x ``base`` req/s; kept as ``ratio``."""
        if ours is None or base is None:
            self.add(CURRENT, name, None, None)
            return
        share = ours["rps"] / base["rps"]
        self.ratios[ratio] = share
        value = f"{share:.2f} ({ours['rps']:,.0f} / {base['rps']:,.0f})"
        self.add(CURRENT, name, value, share >= minimum)


def ratios_and_targets(results: Row) -> tuple[dict[str, float], list[Row]]:
    summary = results["summary"]
    connections = results["options"]["connections"]
    peak, low = max(connections), min(connections)
    ceiling = cell(summary, "constant", None, peak)
    ws = {m: cell(summary, "warmserve", m, peak) for m in ("lr", "rf", "xgb", "lgbm")}
    ratios: dict[str, float] = {}
    targets = Targets(ratios)
    now = CURRENT
    for model in ("rf", "xgb", "lgbm"):
        targets.rps_share(
            f"{model.upper()} req/s at {peak} clients >= {TREES_SHARE_OF_LR:g} x warmserve LR",
            f"warmserve {model.upper()} / warmserve LR at {peak} clients",
            ws[model],
            ws["lr"],
            TREES_SHARE_OF_LR,
        )
    targets.rps_share(
        f"LR req/s at {peak} clients >= {LR_SHARE_OF_CEILING:g} x the constant endpoint",
        f"warmserve LR / constant ceiling at {peak} clients",
        ws["lr"],
        ceiling,
        LR_SHARE_OF_CEILING,
    )
    floor = cell(summary, "constant", None, low)
    for model, limit in P50_TIMES_CEILING.items():
        alone = cell(summary, "warmserve", model, low)
        times = alone["p50_ms"] / floor["p50_ms"] if alone and floor and floor["p50_ms"] else None
        if times is not None:
            ratios[f"warmserve {model.upper()} p50 / constant p50 at {low} client(s)"] = times
        targets.add(
            now,
            f"{model.upper()} p50 at {low} client(s) <= {limit:g} x the constant endpoint's",
            f"{times:.1f}x ({alone['p50_ms']:.2f} / {floor['p50_ms']:.2f} ms)"
            if times is not None and alone and floor
            else None,
            None if times is None else times <= limit,
        )
    for model in results["options"]["models"]:
        local = report_rows.inprocess_yardstick(results, model, ROWS_PER_REQUEST)
        for fmt in ("json", "csv"):
            best = report_rows.best_row_cell(results, model, fmt)
            share = best["rps"] * ROWS_PER_REQUEST / local if best and local else None
            if share is not None:
                ratios[f"{model.upper()} {fmt.upper()} 1,000-row rows/s / in-process"] = share
            targets.add(
                now,
                f"{model.upper()} {ROWS_PER_REQUEST:,}-row requests ({fmt.upper()}): rows/s >= "
                f"{ROWS_SHARE_OF_INPROCESS:g} x in-process predict",
                f"{share:.2f} ({best['rps'] * ROWS_PER_REQUEST:,.0f} / {local:,.0f} rows/s)"
                if share is not None and best and local
                else None,
                None if share is None else share >= ROWS_SHARE_OF_INPROCESS,
            )
    errors = sum(
        row["non_2xx"] + row["socket_errors"] for row in [*summary, *results.get("row_summary", [])]
    )
    errors += sum(not found["ok"] for found in results.get("bulk", []))
    targets.add(now, "0 non-2xx (or socket errors, failed bulk requests)", f"{errors}", errors == 0)
    _earlier(results, ratios, targets, peak)
    return ratios, targets.rows


def _earlier(results: Row, ratios: dict[str, float], targets: Targets, peak: int) -> None:
    """The first benchmark's targets, still measured (LR vs the ceiling is issue 14's now)."""
    summary = results["summary"]
    group = "earlier"
    lr, rf = cell(summary, "warmserve", "lr", peak), cell(summary, "warmserve", "rf", peak)
    for model in ("lr", "rf", "xgb", "lgbm"):
        ours, theirs = cell(summary, "warmserve", model, peak), cell(summary, "mlflow", model, peak)
        if ours and theirs:
            ratios[f"warmserve {model.upper()} / mlflow models serve {model.upper()}"] = (
                ours["rps"] / theirs["rps"]
            )
    times = ratios.get("warmserve LR / mlflow models serve LR")
    targets.add(
        group,
        f"LR >= {LR_TIMES_MLFLOW:g}x mlflow models serve at {peak} clients",
        f"{times:.1f}x" if times is not None else None,
        None if times is None else times >= LR_TIMES_MLFLOW,
    )
    targets.add(
        group,
        f"RF >= {RF_MIN_RPS:,.0f} req/s at {peak} clients",
        f"{rf['rps']:,.0f} req/s" if rf else None,
        None if rf is None else rf["rps"] >= RF_MIN_RPS,
    )
    for name, row in (("LR", lr), ("RF", rf)):
        targets.add(
            group,
            f"{name} p99 < {P99_MAX_MS:g} ms at {peak} clients",
            f"{row['p99_ms']:.1f} ms" if row else None,
            None if row is None else row["p99_ms"] < P99_MAX_MS,
        )
    for model in ("lr", "rf"):
        one = _memory(results["selection"], "warmserve", model, 1)
        four = _memory(results["selection"], "warmserve", model, 4)
        if not one or not four:
            continue
        idle = four["memory_idle"]["total_mib"] / one["memory_idle"]["total_mib"]
        loaded = four["memory_loaded"]["total_mib"] / one["memory_loaded"]["total_mib"]
        targets.add(
            group,
            f"{model.upper()}: PSS(4 workers) <= {PSS_GROWTH_MAX:g} x PSS(1 worker)",
            f"{idle:.2f}x idle, {loaded:.2f}x after {peak} clients",
            max(idle, loaded) <= PSS_GROWTH_MAX,
        )

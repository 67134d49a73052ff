"""The benchmark harness's own logic (bench/): bodies, memory high-water marks, targets.

The figures themselves belong to bench/ and docs/benchmarks.md, never to a test;
these tests check that what the harness computes from its measurements is right,
on hand-made results, so a report cannot pass a target it missed.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pandas as pd
import pytest

from support import ROOT

BENCH = ROOT / "bench"


@pytest.fixture(scope="module")
def bench() -> Iterator[dict[str, ModuleType]]:
    """The harness modules, imported as bench/throughput.py imports them (bench/ on the path)."""
    import importlib

    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(BENCH))
        names = ("bodies", "procfs", "report", "report_rows", "targets")
        yield {name: importlib.import_module(name) for name in names}


def test_json_and_csv_bodies_carry_the_same_rows(bench: dict[str, ModuleType]) -> None:
    bodies = bench["bodies"]
    data = bodies.rows(50)
    split = json.loads(bodies.encode(data, "json"))["dataframe_split"]
    from_json = pd.DataFrame(split["data"], columns=split["columns"])
    from_csv = pd.read_csv(io.BytesIO(bodies.encode(data, "csv")), dtype="float64")
    pd.testing.assert_frame_equal(from_json, from_csv)
    assert list(from_csv.columns) == [f"f{i}" for i in range(20)]
    assert bodies.rows(50) == data  # seeded: every run sends the same rows


def test_the_rss_high_water_mark_resets_to_the_current_size(
    bench: dict[str, ModuleType],
) -> None:
    procfs = bench["procfs"]
    pid = os.getpid()
    block = b"x" * (64 * 1024 * 1024)  # written, so resident; freed with munmap below
    del block
    before = procfs.peak_rss_kib(pid)
    assert before is not None
    if not procfs.reset_peak_rss(pid):
        pytest.skip("/proc/PID/clear_refs is not writable here (the bulk table then says so)")
    after = procfs.peak_rss_kib(pid)
    assert after is not None and after < before - 32 * 1024


def _cell(kind: str, model: str | None, clients: int, rps: float, p50: float) -> dict[str, Any]:
    return {"kind": kind, "model": model, "connections": clients, "rps": rps, "p50_ms": p50,
            "p99_ms": 2 * p50, "non_2xx": 0, "socket_errors": 0}  # fmt: skip


def _results(rf_rps: float, lr_json_rps: float) -> dict[str, Any]:
    """A finished run in miniature: LR, RF and the ceiling at 1 and 64 clients, LR rows."""
    summary = [
        _cell("warmserve", "lr", 1, 500, 1.0),
        _cell("warmserve", "lr", 64, 1000, 30.0),
        _cell("warmserve", "rf", 1, 400, 2.0),
        _cell("warmserve", "rf", 64, rf_rps, 40.0),
        _cell("constant", None, 1, 2000, 0.5),
        _cell("constant", None, 64, 1250, 20.0),
    ]
    rows = [
        {**_cell("warmserve", "lr", 1, lr_json_rps, 20.0), "format": "json", "rows": 1000},
        {**_cell("warmserve", "lr", 4, lr_json_rps / 2, 90.0), "format": "json", "rows": 1000},
        {**_cell("warmserve", "lr", 1, 100, 10.0), "format": "csv", "rows": 1000},
    ]
    inprocess = [  # 10 ms per 1,000 rows: 100,000 rows/s
        {"model": "lr", "rows": 1000, "threads": None, "seconds": [0.009, 0.010, 0.011]},
        {"model": "lr", "rows": 1000, "threads": 1, "seconds": [0.5]},  # slower: not the yardstick
    ]
    return {
        "options": {"connections": [1, 64], "models": ["lr", "rf"]},
        "summary": summary,
        "row_summary": rows,
        "inprocess": inprocess,
        "bulk": [{"ok": True}],
        "selection": [],
    }


def _verdicts(bench: dict[str, ModuleType], results: dict[str, Any]) -> dict[str, bool | None]:
    _, targets = bench["targets"].ratios_and_targets(results)
    return {t["target"]: t["met"] for t in targets if t["group"] == "issue 14"}


def test_the_issue_targets_are_ratios_of_the_same_run(bench: dict[str, ModuleType]) -> None:
    verdicts = _verdicts(bench, _results(rf_rps=800, lr_json_rps=70))
    assert verdicts["RF req/s at 64 clients >= 0.8 x warmserve LR"] is True  # 800 / 1000
    assert verdicts["XGB req/s at 64 clients >= 0.8 x warmserve LR"] is None  # not in the run
    assert verdicts["LR req/s at 64 clients >= 0.7 x the constant endpoint"] is True  # 0.8
    assert verdicts["LR p50 at 1 client(s) <= 3 x the constant endpoint's"] is True  # 2x
    assert verdicts["RF p50 at 1 client(s) <= 4 x the constant endpoint's"] is True  # 4x
    # the best client count (1: 70,000 rows/s) against the median library-thread call
    assert verdicts["LR 1,000-row requests (JSON): rows/s >= 0.7 x in-process predict"] is True
    assert verdicts["LR 1,000-row requests (CSV): rows/s >= 0.7 x in-process predict"] is True
    assert verdicts["RF 1,000-row requests (JSON): rows/s >= 0.7 x in-process predict"] is None
    assert verdicts["0 non-2xx (or socket errors, failed bulk requests)"] is True


def test_a_missed_target_is_reported_as_missed(bench: dict[str, ModuleType]) -> None:
    results = _results(rf_rps=790, lr_json_rps=69)
    results["bulk"].append({"ok": False})  # a bulk request that did not answer every row
    verdicts = _verdicts(bench, results)
    assert verdicts["RF req/s at 64 clients >= 0.8 x warmserve LR"] is False
    assert verdicts["LR 1,000-row requests (JSON): rows/s >= 0.7 x in-process predict"] is False
    assert verdicts["0 non-2xx (or socket errors, failed bulk requests)"] is False


def test_the_in_process_yardstick_is_the_faster_thread_setting(
    bench: dict[str, ModuleType],
) -> None:
    """A library's OpenMP pool can slow in-process predict; the target must not lean on that."""
    results = _results(rf_rps=800, lr_json_rps=70)
    results["inprocess"][1]["seconds"] = [0.008, 0.008]  # one thread: 125,000 rows/s
    verdicts = _verdicts(bench, results)
    assert verdicts["LR 1,000-row requests (JSON): rows/s >= 0.7 x in-process predict"] is False
    assert verdicts["LR 1,000-row requests (CSV): rows/s >= 0.7 x in-process predict"] is True


def test_bulk_rows_are_summarized_per_row_and_against_the_smaller_size(
    bench: dict[str, ModuleType],
) -> None:
    report_rows = bench["report_rows"]

    def bulk(rows: int, seconds: float, worker: float, runner: float) -> dict[str, Any]:
        memory = {
            "http-worker": {"rss_extra_mib": worker, "uss_extra_mib": worker, "rss_base_mib": 50},
            "runner": {"rss_extra_mib": runner, "uss_extra_mib": runner, "rss_base_mib": 200},
        }
        return {"model": "rf", "format": "csv", "rows": rows, "body_bytes": rows * 200,
                "status": 200, "ok": True, "seconds": seconds, "memory": memory,
                "hwm_exact": True}  # fmt: skip

    results = {"bulk": [bulk(10_000, 1.0, 4, 6), bulk(100_000, 10.0, 40, 60),
                        bulk(100_000, 12.0, 40, 80)], "inprocess": []}  # fmt: skip
    summary = report_rows.bulk_summary(results)
    small, large = summary
    assert (small["rows"], small["rows_per_s"]) == (10_000, 10_000)
    assert large["seconds"] == 11.0 and large["repeats"] == 2  # the median of the two
    assert large["memory"]["runner"]["rss_extra_mib"] == 70
    table = "\n".join(report_rows.bulk_table(summary))
    # (40 + 70) MiB over 100,000 rows; and over the 20,000,000-byte body
    assert f"| {110 * 1024 * 1024 / 100_000:,.0f} | {110 * 1024 * 1024 / 20_000_000:.1f} |" in table
    (line,) = report_rows.scaling_lines(summary)
    assert "10x the rows took 11.0x the time and 11.0x the extra memory" in line

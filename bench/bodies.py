"""Request bodies of the benchmark: one row, 1,000 rows and bulk, as JSON and as CSV.

Every body of N rows holds the same rows (a fixed seed), so a JSON and a CSV
request, and the in-process predict that reads the CSV file, score the same data.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

N_FEATURES = 20
COLUMNS = [f"f{i}" for i in range(N_FEATURES)]
CONTENT_TYPES = {"json": "application/json", "csv": "text/csv"}
FORMATS = tuple(CONTENT_TYPES)


@dataclass(frozen=True)
class Payload:
    """A body file wrk posts: its format (the Content-Type) and how many rows it holds."""

    path: Path
    fmt: str = "json"
    rows: int = 1

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.fmt]


def one_row_json() -> bytes:
    """One row of 20 fixed floats in the MLflow `dataframe_split` form (the 1-row cells)."""
    rng = random.Random(0)
    row = [round(rng.gauss(0.0, 1.0), 4) for _ in range(N_FEATURES)]
    return json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [row]}}).encode()


def rows(count: int) -> list[list[float]]:
    """``count`` rows of standard normal floats with 6 decimals (seeded: always the same)."""
    rng = random.Random(count)
    return [[round(rng.gauss(0.0, 1.0), 6) for _ in range(N_FEATURES)] for _ in range(count)]


def encode(data: list[list[float]], fmt: str) -> bytes:
    """``dataframe_split`` JSON, or CSV with a header line, as a client would send it."""
    if fmt == "json":
        return json.dumps({"dataframe_split": {"columns": COLUMNS, "data": data}}).encode()
    if fmt == "csv":
        lines = [",".join(COLUMNS), *(",".join(repr(value) for value in row) for row in data)]
        return ("\n".join(lines) + "\n").encode()
    raise ValueError(f"unknown body format {fmt!r}; choose from {', '.join(FORMATS)}")


def write_bodies(out_dir: Path, counts: tuple[int, ...]) -> dict[tuple[int, str], Path]:
    """Write every (row count, format) body once; the paths by (count, format)."""
    paths: dict[tuple[int, str], Path] = {}
    for count in sorted(set(counts)):
        data = rows(count)
        for fmt in FORMATS:
            path = out_dir / f"body-{count}.{fmt}"
            path.write_bytes(encode(data, fmt))
            paths[(count, fmt)] = path
    return paths

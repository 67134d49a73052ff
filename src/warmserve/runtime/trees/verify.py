"""Proof at load time that the compiled trees predict what the pyfunc model predicts.

The pyfunc path is the reference: the same rows go through both, labels must be
identical (and of the same dtype), scores within ``compiled.tolerance`` relative
to max(1, |expected|). A mismatch is a result (``ok=False`` with a reason), never
an exception: the caller serves through pyfunc and shows why.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from warmserve.runtime.trees.compiled import Array, CompiledTrees
from warmserve.runtime.trees.probes import example_rows, threshold_rows, thresholds_by_feature

GENERATED_ROWS = 2000


@dataclass(frozen=True)
class Verification:
    ok: bool
    rows_checked: int
    max_abs_diff: float | None
    tolerance: float
    reason: str
    leaf_coverage: float | None = None  # share of all leaves that the checked rows reached
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify(
    compiled: CompiledTrees,
    pyfunc_model: Any,
    columns: Any,
    example: Any,
    *,
    n_generated: int = GENERATED_ROWS,
    seed: int = 0,
) -> Verification:
    """Compare on the input example plus generated rows; never raises."""
    started = time.perf_counter()
    tolerance = compiled.tolerance
    try:
        rows = _rows(compiled, list(columns), example, n_generated, np.random.default_rng(seed))
        diff, reason = _compare(compiled, pyfunc_model, list(columns), rows)
        coverage = _leaf_coverage(compiled, rows)
    except Exception as exc:
        return Verification(False, 0, None, tolerance, f"verification failed: {exc!r}",
                            seconds=time.perf_counter() - started)  # fmt: skip
    return Verification(
        ok=not reason,
        rows_checked=len(rows),
        max_abs_diff=diff,
        tolerance=tolerance,
        reason=reason or "identical labels; scores within tolerance",
        leaf_coverage=coverage,
        seconds=time.perf_counter() - started,
    )


def _rows(
    compiled: CompiledTrees, columns: list[str], example: Any, n: int, rng: np.random.Generator
) -> Array:
    parts: list[Array] = []
    if example is not None:
        parts.append(np.asarray(example[columns], dtype=np.float64))
    generated = threshold_rows(
        thresholds_by_feature(compiled.model),
        n,
        rng,
        nan=not compiled.inputs.refuse_nan,
        inf=not compiled.inputs.refuse_inf,
    )
    if compiled.transform is None:
        parts.append(generated)
    else:
        parts.append(_back_to_inputs(compiled, generated, parts, rng, n))
    return np.vstack([part for part in parts if part.size])


def _back_to_inputs(
    compiled: CompiledTrees, generated: Array, parts: list[Array], rng: np.random.Generator, n: int
) -> Array:
    """Threshold rows as pipeline inputs: through the prefix's inverse, as they are when the
    prefix leaves them unchanged (an imputer), else rows sampled around the example."""
    attempts = [compiled.inverse, lambda rows: rows]
    for attempt in attempts:
        if attempt is None:
            continue
        try:
            with np.errstate(all="ignore"):
                back = np.asarray(attempt(generated), dtype=np.float64)
                lands = np.asarray(compiled.transform(back), dtype=np.float64)  # type: ignore[misc]
            finite = np.isfinite(generated)  # an imputer fills NaN cells: compare the rest
            if back.shape == generated.shape and np.allclose(lands[finite], generated[finite]):
                return back
        except Exception:
            continue
    seen = parts[0] if parts else rng.normal(size=(8, compiled.n_features))
    return example_rows(seen, n, rng)


def _compare(
    compiled: CompiledTrees, pyfunc_model: Any, columns: list[str], rows: Array
) -> tuple[float | None, str]:
    import pandas as pd

    try:
        expected = np.asarray(pyfunc_model.predict(pd.DataFrame(rows, columns=columns)))
    except Exception as exc:
        return None, f"the pyfunc model failed on the verification rows: {exc!r}"
    actual = np.asarray(compiled.predict(rows))
    if actual.shape != expected.shape or actual.dtype != expected.dtype:
        return None, (
            f"compiled output is {actual.dtype}{actual.shape}, "
            f"pyfunc output is {expected.dtype}{expected.shape}"
        )
    if not np.issubdtype(expected.dtype, np.floating):
        wrong = int(np.sum(actual != expected))
        return 0.0, (f"{wrong} of {len(rows)} labels differ" if wrong else "")
    same_nan = np.array_equal(np.isnan(actual), np.isnan(expected))
    with np.errstate(invalid="ignore"):
        gap = np.nan_to_num(np.abs(actual - expected), nan=0.0)
    bound = compiled.tolerance * np.maximum(1.0, np.abs(np.nan_to_num(expected)))
    diff = float(gap.max()) if gap.size else 0.0
    if not same_nan:
        return diff, "NaN predictions differ"
    worst = int(np.sum(gap > bound))
    return diff, (
        f"{worst} of {gap.size} values differ by more than the tolerance" if worst else ""
    )


def _leaf_coverage(compiled: CompiledTrees, rows: Array) -> float | None:
    import treelite.gtil

    try:
        leaves = treelite.gtil.predict_leaf(compiled.model, compiled.tree_input(rows), nthread=1)
    except Exception:
        return None  # rows with refused values: coverage is a diagnostic, not a check
    total = 0
    for tree_id in range(int(compiled.model.num_tree)):
        total += int(np.sum(compiled.model.get_tree_accessor(tree_id).get_field("node_type") == 0))
    reached = sum(len(np.unique(leaves[:, t])) for t in range(leaves.shape[1]))
    return round(reached / total, 4) if total else None

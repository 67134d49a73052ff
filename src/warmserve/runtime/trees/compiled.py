"""A tree ensemble converted to treelite, with the input and output rules of its library.

The trees are the expensive part of a prediction and treelite's GTIL walks them in
C++; everything around them (rounding the input the way the library does, refusing
the values the library refuses, turning margins into labels) is a small numpy step
per model kind, written beside the converter that knows that kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]
Output = Callable[[Array], Array]  # GTIL's result, shape (n, targets, classes) -> prediction

BACKEND = "treelite"
# LightGBM keeps only values with |x| > kZeroThreshold (1e-35f) when it reads a dense row;
# smaller ones reach the trees as 0.0 (c_api.cpp, RowPairFunctionFromDenseMatric).
LIGHTGBM_ZERO = float(np.float32(1e-35))
# GTIL walks one row through every tree, then the next row; the libraries walk one tree
# over all rows. Up to about this many rows per call GTIL wins; past ~128 the library's
# own single-threaded predict is faster (bench/compiled_trees.py --crossover), so the
# caller should send bigger batches down the pyfunc path.
FASTER_UP_TO_ROWS = 64


class NotCompilable(Exception):
    """The model cannot be served by the compiled path; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class InputRule:
    """What the library does to a row before it walks the trees."""

    # sklearn forests and GradientBoosting compare float32(x) with float64 thresholds.
    round_to_float32: bool = False
    # LightGBM reads |x| <= 1e-35 as 0.0.
    lightgbm_zero: bool = False
    # Non-finite values the original model refuses with an error (probed at compile time).
    refuse_nan: bool = False
    refuse_inf: bool = False


@dataclass
class CompiledTrees:
    """A compiled ensemble with the exact input and output behaviour of its pyfunc model."""

    model: Any  # treelite.Model
    kind: str
    columns: tuple[str, ...]
    output: Output
    margin: bool  # the output rule takes raw margins, not the library's transformed scores
    float32_model: bool
    inputs: InputRule = field(default_factory=InputRule)
    transform: Callable[[Array], Array] | None = None  # earlier pipeline steps, applied by sklearn
    inverse: Callable[[Array], Array] | None = None  # their inverse, when every step has one
    threads: int = 1
    pipeline_steps: tuple[str, ...] = ()
    conversion_seconds: float = 0.0
    backend: str = BACKEND

    @property
    def tolerance(self) -> float:
        """Largest difference verification accepts, relative to max(1, |expected|)."""
        return 1e-5 if self.float32_model else 1e-9

    @property
    def n_features(self) -> int:
        return len(self.columns)

    def describe(self) -> dict[str, Any]:
        """JSON-able facts for /model."""
        return {
            "backend": self.backend,
            "kind": self.kind,
            "n_trees": int(self.model.num_tree),
            "n_features": self.n_features,
            "threshold_type": str(self.model.input_type),
            "pipeline_steps": list(self.pipeline_steps),
            "refuses": [name for name, on in self._refusals() if on],
            "conversion_seconds": round(self.conversion_seconds, 4),
            "threads": self.threads,
            "faster_up_to_rows": FASTER_UP_TO_ROWS,
            "tolerance": self.tolerance,
        }

    def tree_input(self, x: Array) -> Array:
        """The matrix the trees see: the pipeline prefix applied, the library's rounding."""
        matrix = np.asarray(x, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != self.n_features:
            raise ValueError(
                f"expected an array of shape (n, {self.n_features}), got {matrix.shape}"
            )
        self._refuse(matrix)
        if self.transform is not None:
            matrix = np.asarray(self.transform(matrix), dtype=np.float64)
        if self.inputs.round_to_float32:
            with np.errstate(over="ignore"):
                matrix = matrix.astype(np.float32).astype(np.float64)
            self._refuse(matrix)
        if self.inputs.lightgbm_zero:
            matrix = np.where(np.abs(matrix) <= LIGHTGBM_ZERO, 0.0, matrix)
        return np.ascontiguousarray(matrix)

    def _refusals(self) -> list[tuple[str, bool]]:
        return [("nan", self.inputs.refuse_nan), ("inf", self.inputs.refuse_inf)]

    def _refuse(self, matrix: Array) -> None:
        if self.inputs.refuse_nan and np.isnan(matrix).any():
            raise ValueError("Input X contains NaN, which this model does not accept.")
        if self.inputs.refuse_inf and np.isinf(matrix).any():
            raise ValueError("Input X contains infinity or a value too large for this model.")

    def predict(self, x: Array) -> Array:
        """What the pyfunc model predicts for these rows (signature column order)."""
        import treelite.gtil

        matrix = self.tree_input(x)
        scores = treelite.gtil.predict(
            self.model, matrix, nthread=self.threads, pred_margin=self.margin
        )
        return self.output(scores)

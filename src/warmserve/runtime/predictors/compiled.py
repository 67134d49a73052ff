"""What the compiled paths share: a numeric batch of up to ``up_to_rows`` rows is
computed by warmserve's own copy of the model; anything else goes to the fallback.

``predict_inline`` is the compiled computation alone (numpy, treelite: never model
code that could hang), so the model process may run it on its event loop
(:func:`warmserve.runtime.batch.execute_inline`); ``predict`` adds the fallback and
runs on the predict thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from warmserve.protocol import InputForm
from warmserve.runtime.predictors.base import Predictor
from warmserve.runtime.predictors.numeric import numeric_matrix, numeric_row_count


class CompiledPredictor:
    def __init__(
        self,
        name: str,
        columns: tuple[str, ...],
        compute: Callable[[Any], Any],  # float64 matrix (rows, columns) -> raw output
        detail: dict[str, Any],
        fallback: Predictor,
        up_to_rows: int,
        finite_only: bool = False,  # NaN and infinity go to the fallback (its rules apply)
    ) -> None:
        self.name = name
        self.columns = columns
        self.compute = compute
        self._detail = detail
        self.fallback = fallback
        self.up_to_rows = up_to_rows
        self.finite_only = finite_only

    def predict(self, form: InputForm, data: Any, params: dict[str, Any] | None) -> Any:
        output = self.predict_inline(form, data, params)
        if output is NotImplemented:
            return self.fallback.predict(form, data, params)
        return output

    def predict_inline(self, form: InputForm, data: Any, params: dict[str, Any] | None) -> Any:
        """The prediction when the compiled copy computes it, else NotImplemented."""
        count = None if params else numeric_row_count(form, data)
        if not count or count > self.up_to_rows:
            return NotImplemented
        x = numeric_matrix(self.columns, form, data)
        if x is None:
            return NotImplemented
        if self.finite_only:
            import numpy as np

            if not np.isfinite(x).all():
                return NotImplemented
        return self.compute(x)

    def detail(self) -> dict[str, Any]:
        return self._detail

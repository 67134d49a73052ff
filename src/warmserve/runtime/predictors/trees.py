"""The compiled-tree path: small batches of numeric rows walk a treelite copy of the ensemble.

Converted at load beside the pyfunc model and proven equal to it on the input
example plus rows generated from the model's own thresholds
(:mod:`warmserve.runtime.trees`); a model that does not convert or verify is
declined with the reason. Batches larger than ``FASTER_UP_TO_ROWS`` and inputs
the numeric path would not take go to the fallback (the library's own predict
is faster for big batches), so answers never depend on which path ran.
"""

from __future__ import annotations

from typing import Any

from warmserve.protocol import InputForm
from warmserve.runtime.predictors.base import Declined, ModelContext, Predictor
from warmserve.runtime.predictors.numeric import (
    numeric_columns,
    numeric_matrix,
    numeric_row_count,
)


class CompiledTreePredictor:
    name = "compiled-trees"

    def __init__(
        self,
        columns: tuple[str, ...],
        compiled: Any,
        detail: dict[str, Any],
        fallback: Predictor,
        faster_up_to: int,
    ) -> None:
        self.columns = columns
        self.compiled = compiled
        self._detail = detail
        self.fallback = fallback
        self.faster_up_to = faster_up_to

    def predict(self, form: InputForm, data: Any, params: dict[str, Any] | None) -> Any:
        output = self.predict_inline(form, data, params)
        if output is NotImplemented:
            return self.fallback.predict(form, data, params)
        return output

    def predict_inline(self, form: InputForm, data: Any, params: dict[str, Any] | None) -> Any:
        """The prediction when the compiled trees compute it, else NotImplemented."""
        count = None if params else numeric_row_count(form, data)
        if not count or count > self.faster_up_to:
            return NotImplemented
        x = numeric_matrix(self.columns, form, data)
        if x is None:
            return NotImplemented
        return self.compiled.predict(x)

    def detail(self) -> dict[str, Any]:
        return self._detail


def build_trees(context: ModelContext, fallback: Predictor) -> CompiledTreePredictor:
    if not context.compiled_models:
        raise Declined("turned off (compiled_models=false)")
    columns = numeric_columns(context)
    from warmserve.runtime.trees import FASTER_UP_TO_ROWS, NotCompilable, compile_trees, verify

    try:
        compiled = compile_trees(context.pyfunc, columns)
    except NotCompilable as exc:
        raise Declined(exc.reason) from None
    report = verify(compiled, context.pyfunc, columns, context.input_example)
    if not report.ok:
        raise Declined(f"not equal to the pyfunc path: {report.reason}")
    detail = {**compiled.describe(), "verification": report.to_dict()}
    return CompiledTreePredictor(columns, compiled, detail, fallback, FASTER_UP_TO_ROWS)

"""The compiled-tree path: small batches of numeric rows walk a treelite copy of the ensemble.

Converted at load beside the pyfunc model and proven equal to it on the input
example plus rows generated from the model's own thresholds
(:mod:`warmserve.runtime.trees`); a model that does not convert or verify is
declined with the reason. Batches larger than ``FASTER_UP_TO_ROWS`` and inputs
the numeric path would not take go to the fallback (the library's own predict
is faster for big batches), so answers never depend on which path ran.
"""

from __future__ import annotations

from warmserve.runtime.predictors.base import Declined, ModelContext, Predictor
from warmserve.runtime.predictors.compiled import CompiledPredictor
from warmserve.runtime.predictors.numeric import numeric_columns


def build_trees(context: ModelContext, fallback: Predictor) -> CompiledPredictor:
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
    return CompiledPredictor(
        "compiled-trees", columns, compiled.predict, detail, fallback, FASTER_UP_TO_ROWS
    )

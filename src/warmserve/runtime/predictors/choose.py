"""Choose a model's predictor once, at load time, most specific first."""

from __future__ import annotations

import logging
from typing import Any

from warmserve.protocol import InputForm, PredictorInfo
from warmserve.runtime.predictors.base import Declined, ModelContext, Predictor, Strategy
from warmserve.runtime.predictors.linear import build_linear
from warmserve.runtime.predictors.numeric import build_numeric
from warmserve.runtime.predictors.pyfunc import build_pyfunc
from warmserve.runtime.predictors.trees import build_trees

log = logging.getLogger("warmserve.runtime")

# Most specific first; the last one (MLflow's pyfunc path) never declines.
STRATEGIES: tuple[Strategy, ...] = (
    Strategy("compiled-trees", build_trees),
    Strategy("compiled-linear", build_linear),
    Strategy("numeric-frame", build_numeric),
    Strategy("pyfunc", build_pyfunc),
)


def choose_predictor(
    context: ModelContext, strategies: tuple[Strategy, ...] = STRATEGIES
) -> tuple[Predictor, PredictorInfo]:
    """Build from the bottom up, so each predictor can fall back to the one below it for
    inputs it does not handle, and serve with the most specific one that applies."""
    chosen: Predictor = _NoFallback()
    declined: dict[str, str] = {}
    for strategy in reversed(strategies):
        try:
            chosen = strategy.build(context, chosen)
        except Declined as exc:
            declined[strategy.name] = exc.reason
            continue
        declined = {}  # only the strategies above the one that serves matter
    if isinstance(chosen, _NoFallback):
        raise RuntimeError("no predictor strategy applies (the last one must never decline)")
    info = PredictorInfo(chosen.name, chosen.detail(), dict(reversed(declined.items())))
    log.info(
        "predictor: %s%s", chosen.name, f" (declined: {info.declined})" if info.declined else ""
    )
    return chosen, info


class _NoFallback:
    """The bottom strategy has no fallback below it."""

    name = "none"

    def predict(self, form: InputForm, data: Any, params: dict[str, Any] | None) -> Any:
        raise RuntimeError("no fallback predictor")

    def detail(self) -> dict[str, Any]:
        return {}

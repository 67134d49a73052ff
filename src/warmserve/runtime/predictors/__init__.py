"""Predictors: how a loaded model turns request rows into a prediction.

One is chosen at load time from an ordered list of strategies, most specific
first (see :mod:`.choose`); each strategy either builds a predictor or declines
with a reason that ``/model`` shows.
"""

from warmserve.runtime.predictors.base import Declined, ModelContext, Predictor, Strategy
from warmserve.runtime.predictors.choose import STRATEGIES, choose_predictor

__all__ = ["STRATEGIES", "Declined", "ModelContext", "Predictor", "Strategy", "choose_predictor"]

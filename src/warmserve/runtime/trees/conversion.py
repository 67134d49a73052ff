"""What a converter hands back: the treelite model and the library's own output rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from warmserve.runtime.trees.compiled import Output


@dataclass(frozen=True)
class Conversion:
    model: Any  # treelite.Model
    kind: str  # e.g. "sklearn.RandomForestClassifier"
    output: Output
    margin: bool  # whether ``output`` wants raw margins
    float32_model: bool = False  # thresholds and sums in float32 (XGBoost)
    round_to_float32: bool = False  # the library casts the input to float32 first
    lightgbm_zero: bool = False  # the library reads |x| <= 1e-35 as 0.0

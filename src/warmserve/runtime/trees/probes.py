"""Rows that walk many different paths through the trees.

Every split threshold of a feature, the float64 and float32 neighbours on either
side of it, midpoints between thresholds and values beyond the outermost ones are
the candidates for that feature; each generated row picks one candidate per
feature at random. Rounding (float32 casts, ``<`` against ``<=``) goes wrong
exactly at such values, and random combinations of them reach many leaves.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from warmserve.runtime.trees.compiled import Array

NUMERICAL_TEST = 1  # treelite's node_type for a numerical split


def thresholds_by_feature(model: Any) -> list[Array]:
    """The sorted distinct split thresholds of each feature of a treelite model."""
    found: list[list[Array]] = [[] for _ in range(int(model.num_feature))]
    for tree_id in range(int(model.num_tree)):
        tree = model.get_tree_accessor(tree_id)
        numerical = tree.get_field("node_type") == NUMERICAL_TEST
        features = tree.get_field("split_index")[numerical]
        values = tree.get_field("threshold")[numerical].astype(np.float64)
        for feature in np.unique(features):
            found[int(feature)].append(values[features == feature])
    return [np.unique(np.concatenate(parts)) if parts else np.zeros(0) for parts in found]


def candidates(thresholds: Array) -> Array:
    """Values at, next to and between one feature's thresholds, plus 0 and both sides."""
    if thresholds.size == 0:
        return np.array([-1.0, 0.0, 1.0])
    finite = thresholds[np.isfinite(thresholds)]
    t32 = finite.astype(np.float32)
    span = float(finite.max() - finite.min()) if finite.size else 1.0
    parts = [
        finite,
        np.nextafter(finite, np.inf),
        np.nextafter(finite, -np.inf),
        t32.astype(np.float64),
        np.nextafter(t32, np.float32(np.inf)).astype(np.float64),
        np.nextafter(t32, np.float32(-np.inf)).astype(np.float64),
        (finite[1:] + finite[:-1]) / 2.0,
        np.array([0.0, finite.min() - 1.0 - span, finite.max() + 1.0 + span]),
    ]
    values: Array = np.unique(np.concatenate(parts))
    return values[np.isfinite(values)]


def threshold_rows(
    thresholds: list[Array],
    n_rows: int,
    rng: np.random.Generator,
    *,
    nan: bool = False,
    inf: bool = False,
) -> Array:
    """``n_rows`` rows of candidate values; some cells NaN / ±inf when the model takes them."""
    columns = [rng.choice(candidates(t), size=n_rows) for t in thresholds]
    rows = np.column_stack(columns) if columns else np.zeros((n_rows, 0))
    specials = [v for v, on in ((np.nan, nan), (np.inf, inf), (-np.inf, inf)) if on]
    if specials and rows.size:
        mask = rng.random(rows.shape) < 0.1
        rows[mask] = rng.choice(specials, size=int(mask.sum()))
    return rows


def example_rows(example: Array, n_rows: int, rng: np.random.Generator) -> Array:
    """Rows sampled within (and a little beyond) each column's range in the example."""
    low, high = example.min(axis=0), example.max(axis=0)
    pad = np.maximum((high - low) * 0.25, 1.0)
    return rng.uniform(low - pad, high + pad, size=(n_rows, example.shape[1]))

"""From a loaded pyfunc model to a CompiledTrees, or a NotCompilable saying why not.

Only what MLflow's public model API exposes is read here: the pyfunc flavor's
``loader_module`` and ``predict_fn``, the signature and ``get_raw_model()``.
Everything unexpected is refused rather than guessed; the verification in
``verify.py`` is the second line of defence, not the first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from warmserve.runtime.trees.boosters import convert_lightgbm, convert_xgboost
from warmserve.runtime.trees.compiled import Array, CompiledTrees, InputRule, NotCompilable
from warmserve.runtime.trees.conversion import Conversion
from warmserve.runtime.trees.sklearn_trees import convert_sklearn


def compile_trees(pyfunc_model: Any, columns: Sequence[str], *, threads: int = 1) -> CompiledTrees:
    """Convert the tree ensemble behind ``pyfunc_model``; NotCompilable for anything else."""
    try:
        return _compile(pyfunc_model, tuple(columns), threads)
    except NotCompilable:
        raise
    except Exception as exc:  # a converter's surprise is a refusal, never a crash
        raise NotCompilable(f"conversion failed: {type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True)
class _Converted:
    conversion: Conversion
    transform: Callable[[Array], Array] | None = None  # earlier pipeline steps
    inverse: Callable[[Array], Array] | None = None
    steps: tuple[str, ...] = ()


def _compile(pyfunc_model: Any, columns: tuple[str, ...], threads: int) -> CompiledTrees:
    started = time.perf_counter()
    _check_signature(pyfunc_model, columns)
    conf = pyfunc_model.metadata.flavors.get("python_function", {})
    loader = conf.get("loader_module")
    if loader not in ("mlflow.sklearn", "mlflow.xgboost", "mlflow.lightgbm"):
        raise NotCompilable(f"the {loader or 'unknown'} flavor is not a tree ensemble flavor")
    try:
        raw = pyfunc_model.get_raw_model()
    except Exception as exc:
        raise NotCompilable(f"the pyfunc model does not expose its raw model: {exc}") from exc
    done = _convert(raw, loader, conf.get("predict_fn", "predict"), columns)
    conversion = done.conversion
    width = _tree_width(done.transform, len(columns))
    if int(conversion.model.num_feature) != width:
        raise NotCompilable(
            f"the trees read {conversion.model.num_feature} features, the input gives {width}"
        )
    return CompiledTrees(
        model=conversion.model,
        kind=conversion.kind + (" in Pipeline" if done.steps else ""),
        columns=columns,
        output=conversion.output,
        margin=conversion.margin,
        float32_model=conversion.float32_model,
        inputs=_probe_refusals(pyfunc_model, columns, conversion),
        transform=done.transform,
        inverse=done.inverse,
        threads=threads,
        pipeline_steps=done.steps,
        conversion_seconds=time.perf_counter() - started,
    )


def _convert(raw: Any, loader: str, method: str, columns: tuple[str, ...]) -> _Converted:
    if loader == "mlflow.sklearn":
        done = _convert_sklearn(raw, method, columns)
        names_from = raw.steps[0][1] if done.steps else raw
        _check_feature_names(getattr(names_from, "feature_names_in_", None), columns)
        return done
    if method != "predict":
        raise NotCompilable(f"the pyfunc calls {method}; only predict is compiled for {loader}")
    if loader == "mlflow.xgboost":
        booster = raw if type(raw).__name__ == "Booster" else raw.get_booster()
        _check_feature_names(booster.feature_names, columns)
        return _Converted(convert_xgboost(raw))
    return _Converted(convert_lightgbm(raw))


def _check_signature(pyfunc_model: Any, columns: tuple[str, ...]) -> None:
    from mlflow.types import ColSpec, DataType

    schema = pyfunc_model.metadata.get_input_schema()
    if not columns:
        raise NotCompilable("no input columns were given")
    if schema is None:
        return
    if schema.is_tensor_spec():
        raise NotCompilable("the signature takes tensors; the compiled path takes named columns")
    for spec in schema.inputs:
        if not isinstance(spec, ColSpec) or spec.type != DataType.double:
            kind = getattr(spec.type, "name", spec.type)
            raise NotCompilable(f"input {spec.name!r} is {kind}; only double is compiled")
    if tuple(str(spec.name) for spec in schema.inputs) != columns:
        raise NotCompilable("the given columns differ from the signature's inputs")


def _check_feature_names(names: Any, columns: tuple[str, ...]) -> None:
    if names is not None and tuple(str(name) for name in names) != columns:
        raise NotCompilable("the model was fitted on other feature names than the signature's")


def _convert_sklearn(raw: Any, method: str, columns: tuple[str, ...]) -> _Converted:
    from sklearn.pipeline import Pipeline

    if not isinstance(raw, Pipeline):
        return _Converted(convert_sklearn(raw, method))
    if type(raw) is not Pipeline:
        raise NotCompilable(f"{type(raw).__name__} is a Pipeline subclass")
    steps = tuple(f"{name}={type(step).__name__}" for name, step in raw.steps)
    conversion = convert_sklearn(raw.steps[-1][1], method)
    if len(raw.steps) == 1:
        return _Converted(conversion, steps=steps)
    prefix = raw[:-1]
    for name, step in prefix.steps:
        if step is not None and step != "passthrough" and not hasattr(step, "transform"):
            raise NotCompilable(f"pipeline step {name!r} has no transform")
    return _Converted(
        conversion, _prefix_transform(prefix, columns), _prefix_inverse(prefix), steps
    )


def _prefix_transform(prefix: Any, columns: tuple[str, ...]) -> Callable[[Array], Array]:
    """The earlier pipeline steps, applied by sklearn exactly as the pipeline would."""
    import pandas as pd

    named = getattr(prefix.steps[0][1], "feature_names_in_", None) is not None
    names = list(columns)

    def transform(x: Array) -> Array:
        frame: Any = pd.DataFrame(x, columns=names) if named else x
        out = prefix.transform(frame)
        if hasattr(out, "to_numpy"):
            out = out.to_numpy()
        if not isinstance(out, np.ndarray):
            raise ValueError(f"the pipeline's transform gave {type(out).__name__}, not an array")
        return out

    return transform


def _prefix_inverse(prefix: Any) -> Callable[[Array], Array] | None:
    """Map tree-space rows back to inputs (for verification), if every step can."""
    steps = [step for _, step in prefix.steps if step not in (None, "passthrough")]
    if not all(hasattr(step, "inverse_transform") for step in steps):
        return None

    def inverse(x: Array) -> Array:
        for step in reversed(steps):
            x = np.asarray(step.inverse_transform(x))
        return x

    return inverse


def _tree_width(transform: Callable[[Array], Array] | None, width: int) -> int:
    if transform is None:
        return width
    try:
        out = transform(np.zeros((1, width)))
    except Exception as exc:
        raise NotCompilable(
            f"the earlier pipeline steps fail on a row of zeros: {type(exc).__name__}: {exc}"
        ) from exc
    if out.ndim != 2 or not np.issubdtype(out.dtype, np.number):
        raise NotCompilable("the earlier pipeline steps do not give a dense numeric matrix")
    return int(out.shape[1])


def _probe_refusals(pyfunc_model: Any, columns: tuple[str, ...], conv: Conversion) -> InputRule:
    """Which non-finite values the original refuses: the compiled path refuses the same."""
    import pandas as pd

    def fails(value: float) -> bool:
        row = np.zeros((1, len(columns)))
        row[0, 0] = value
        try:
            pyfunc_model.predict(pd.DataFrame(row, columns=list(columns)))
        except Exception:
            return True
        return False

    if fails(0.0):
        raise NotCompilable("the pyfunc model fails on a row of zeros")
    return InputRule(
        round_to_float32=conv.round_to_float32,
        lightgbm_zero=conv.lightgbm_zero,
        refuse_nan=fails(float("nan")),
        refuse_inf=fails(float("inf")) or fails(float("-inf")),
    )

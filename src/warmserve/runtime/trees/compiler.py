"""From a loaded pyfunc model to a CompiledTrees, or a NotCompilable saying why not.

Only what MLflow's public model API exposes is read here: the pyfunc flavor's
``loader_module`` and ``predict_fn``, the signature and ``get_raw_model()``.
Everything unexpected is refused rather than guessed; the verification in
``verify.py`` is the second line of defence, not the first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


def _compile(pyfunc_model: Any, columns: tuple[str, ...], threads: int) -> CompiledTrees:
    import time

    started = time.perf_counter()
    _check_signature(pyfunc_model, columns)
    conf = pyfunc_model.metadata.flavors.get("python_function", {})
    loader = conf.get("loader_module")
    method = conf.get("predict_fn", "predict")
    if loader not in ("mlflow.sklearn", "mlflow.xgboost", "mlflow.lightgbm"):
        raise NotCompilable(f"the {loader or 'unknown'} flavor is not a tree ensemble flavor")
    try:
        raw = pyfunc_model.get_raw_model()
    except Exception as exc:
        raise NotCompilable(f"the pyfunc model does not expose its raw model: {exc}") from exc
    transform: Callable[[Array], Array] | None = None
    inverse: Callable[[Array], Array] | None = None
    if loader == "mlflow.sklearn":
        conversion, transform, steps = _convert_sklearn(raw, method, columns)
        inverse = _prefix_inverse(raw) if transform is not None else None
        names_from = raw.steps[0][1] if steps else raw
        _check_feature_names(getattr(names_from, "feature_names_in_", None), columns)
    elif method != "predict":
        raise NotCompilable(f"the pyfunc calls {method}; only predict is compiled for {loader}")
    elif loader == "mlflow.xgboost":
        conversion, steps = convert_xgboost(raw), []
        booster = raw if type(raw).__name__ == "Booster" else raw.get_booster()
        _check_feature_names(booster.feature_names, columns)
    else:
        conversion, steps = convert_lightgbm(raw), []
    width = _tree_width(transform, len(columns))
    if int(conversion.model.num_feature) != width:
        raise NotCompilable(
            f"the trees read {conversion.model.num_feature} features, the input gives {width}"
        )
    kind = conversion.kind + (" in Pipeline" if steps else "")
    compiled = _assemble(conversion, kind, columns, transform, threads)
    compiled.inverse = inverse
    compiled.inputs = _probe_refusals(pyfunc_model, columns, conversion)
    compiled.pipeline_steps = tuple(steps)
    compiled.conversion_seconds = time.perf_counter() - started
    return compiled


def _assemble(
    conversion: Conversion,
    kind: str,
    columns: tuple[str, ...],
    transform: Callable[[Array], Array] | None,
    threads: int,
) -> CompiledTrees:
    return CompiledTrees(
        model=conversion.model,
        kind=kind,
        columns=columns,
        output=conversion.output,
        margin=conversion.margin,
        float32_model=conversion.float32_model,
        inputs=InputRule(
            round_to_float32=conversion.round_to_float32, lightgbm_zero=conversion.lightgbm_zero
        ),
        transform=transform,
        threads=threads,
    )


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


def _convert_sklearn(
    raw: Any, method: str, columns: tuple[str, ...]
) -> tuple[Conversion, Callable[[Array], Array] | None, list[str]]:
    from sklearn.pipeline import Pipeline

    if not isinstance(raw, Pipeline):
        return convert_sklearn(raw, method), None, []
    if type(raw) is not Pipeline:
        raise NotCompilable(f"{type(raw).__name__} is a Pipeline subclass")
    final = raw.steps[-1][1]
    steps = [f"{name}={type(step).__name__}" for name, step in raw.steps]
    conversion = convert_sklearn(final, method)
    if len(raw.steps) == 1:
        return conversion, None, steps
    prefix = raw[:-1]
    for name, step in prefix.steps:
        if step is None or step == "passthrough":
            continue
        if not hasattr(step, "transform"):
            raise NotCompilable(f"pipeline step {name!r} has no transform")
    return conversion, _prefix_transform(prefix, columns), steps


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


def _prefix_inverse(pipeline: Any) -> Callable[[Array], Array] | None:
    """Map tree-space rows back to inputs (for verification), if every step can."""
    prefix = pipeline[:-1]
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

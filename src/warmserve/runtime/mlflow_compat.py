"""Every private MLflow name warmserve relies on, in one place.

The scoring server's parsing and JSON encoding are what `mlflow models serve`
clients expect, so warmserve reuses them rather than copying them; a few
``PyFuncModel`` internals let the fast paths skip MLflow's per-call work. These
are not public API and can move in any MLflow release: ``REQUIRED`` lists them,
and a unit test fails loudly, naming the missing one, when an upgrade drops it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

# (module, attribute) pairs this module relies on; tests/unit/test_mlflow_compat.py checks
# each one (and, on a real loaded model, the instance attribute PyFuncModel._predict_fn).
REQUIRED: tuple[tuple[str, str], ...] = (
    ("mlflow.pyfunc.scoring_server", "infer_and_parse_data"),
    ("mlflow.pyfunc.scoring_server", "parse_csv_input"),
    ("mlflow.pyfunc.scoring_server", "_get_jsonable_obj"),
    ("mlflow.pyfunc.scoring_server", "parse_parquet_input"),
    ("mlflow.pyfunc.scoring_server", "_split_data_and_params_for_llm_input"),
    ("mlflow.utils.proto_json_utils", "NumpyEncoder"),
    ("mlflow.models", "Model._is_signature_from_type_hint"),
    ("mlflow.models", "Model._is_type_hint_from_example"),
)


def resolve(module: str, attribute: str) -> Any:
    """Import ``module`` and follow the dotted ``attribute`` (AttributeError if gone)."""
    target: Any = importlib.import_module(module)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target


def infer_and_parse_data(data: dict[str, Any], schema: Any) -> Any:
    """Build model input from a JSON envelope exactly as the scoring server does."""
    from mlflow.pyfunc.scoring_server import infer_and_parse_data as parse

    return parse(data, schema)


def parse_csv_input(text: str, schema: Any) -> Any:
    import io

    from mlflow.pyfunc.scoring_server import parse_csv_input as parse

    return parse(io.StringIO(text), schema=schema)


def parse_parquet_input(body: bytes) -> Any:
    import io

    from mlflow.pyfunc import scoring_server

    parse: Callable[..., Any] = scoring_server.parse_parquet_input
    return parse(io.BytesIO(body))


def split_llm_input(document: dict[str, Any], params_schema: Any) -> tuple[Any, Any]:
    """A chat/completions body as (data, params): the keys the params schema names are
    params, everything else is data (MLflow's unified LLM input)."""
    from mlflow.pyfunc import scoring_server

    split: Callable[..., tuple[Any, Any]] = getattr(  # noqa: B009 - a private name
        scoring_server, "_split_data_and_params_for_llm_input"
    )
    return split(document, params_schema)


def json_encoder() -> type[Any]:
    """The JSON encoder class the scoring server writes predictions with."""
    from mlflow.utils.proto_json_utils import NumpyEncoder

    encoder: type[Any] = NumpyEncoder
    return encoder


def jsonable(predictions: Any) -> Any:
    """The scoring server's conversion of a prediction to JSON-able values."""
    from mlflow.pyfunc import scoring_server

    convert: Callable[..., Any] = getattr(scoring_server, "_get_jsonable_obj")  # noqa: B009
    return convert(predictions, pandas_orient="records")


def flavor_predict_fn(pyfunc: Any) -> Callable[..., Any] | None:
    """The flavor's own predict, which skips PyFuncModel's second schema enforcement."""
    fn = getattr(pyfunc, "_predict_fn", None)
    return fn if callable(fn) else None


def parses_request_data(metadata: Any) -> bool:
    """False when the scoring server hands a request's ``inputs`` to the model as it came:
    a signature inferred from type hints (the model validates its input itself)."""
    probe = getattr(metadata, "_is_signature_from_type_hint", None)
    return True if probe is None else not probe()


def signature_from_type_hints(metadata: Any) -> bool:
    """True when the signature came from Python type hints (MLflow 3's typed models).

    Unknown means yes: a model we cannot classify never takes a fast path.
    """
    for check in ("_is_signature_from_type_hint", "_is_type_hint_from_example"):
        probe = getattr(metadata, check, None)
        if probe is None or probe():
            return True
    return False

"""A loaded, warmed-up model and the slot that holds the one being served."""

from __future__ import annotations

import gc
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from warmserve.errors import ModelLoadError
from warmserve.protocol import InputForm, OutputForm, PredictorInfo, ServedModel
from warmserve.redaction import redact
from warmserve.registry import ModelVersion
from warmserve.runtime import outputs
from warmserve.runtime.predictors import ModelContext, Predictor, choose_predictor
from warmserve.runtime.predictors.pyfunc import PyfuncPredictor
from warmserve.runtime.tensors.encode import TENSOR_OUTPUTS, encode_tensors
from warmserve.runtime.tensors.metadata import describe_model

PYFUNC = PyfuncPredictor.name

log = logging.getLogger("warmserve.runtime")

MAX_EXAMPLE_BYTES = 64 * 1024  # larger input examples are not shown in docs and forms


@dataclass
class LoadedModel:
    version: ModelVersion
    pyfunc: Any  # mlflow.pyfunc.PyFuncModel
    predictor: Predictor
    served: ServedModel

    def encode(self, output: Any, form: OutputForm) -> bytes:
        """This version's output in ``form`` (tensors as its tensor metadata says)."""
        if form in TENSOR_OUTPUTS:
            return encode_tensors(output, form, self.served.tensors)
        return outputs.encode(output, form)


Loader = Callable[[ModelVersion], LoadedModel]


def load_model(
    version: ModelVersion, *, compiled_models: bool = True, max_rows: int = 1_000_000
) -> LoadedModel:
    """Download, load, choose the predictor and warm up ``version``; any failure is a
    ModelLoadError, so a version that cannot answer never serves."""
    import mlflow.pyfunc

    started = time.monotonic()
    try:
        pyfunc = mlflow.pyfunc.load_model(version.load_uri)
        metadata = pyfunc.metadata
        example = _input_example(pyfunc)
        context = ModelContext(
            pyfunc, metadata.get_input_schema(), example, compiled_models, max_rows
        )
        predictor, info = choose_predictor(context)
        info = replace(info, detail={**info.detail, "threads": _native_threads()})
        signature = _signature_dict(metadata)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(
            redact(f"cannot load {version.load_uri}: {type(exc).__name__}: {exc}")
        ) from exc
    served = ServedModel(
        version=version.version,
        name=version.name,
        alias=version.alias,
        source=version.source,
        load_uri=version.load_uri,
        run_id=version.run_id,
        loaded_at=time.time(),
        signature=signature,
        input_example=_example_rows(example),
        predictor=info,
    )
    loaded = LoadedModel(version, pyfunc, predictor, served)
    warm_output = warm_up(loaded, context)
    tensors = describe_model(metadata.get_input_schema(), metadata.get_output_schema(), warm_output)
    loaded.served = replace(
        loaded.served, load_seconds=round(time.monotonic() - started, 3), tensors=tensors
    )
    return loaded


def _native_threads() -> dict[str, Any]:
    """The native thread pools loaded in this process and their sizes (shown at /model)."""
    from warmserve.runtime.trees import limit_threads

    try:
        return limit_threads(None)
    except Exception as exc:  # threadpoolctl cannot inspect a library: say so, do not fail
        return {"error": repr(exc)}


def _input_example(pyfunc: Any) -> Any:
    try:
        return pyfunc.input_example
    except Exception as exc:
        raise ModelLoadError(f"cannot read the input example: {exc}") from exc


def warm_up(loaded: LoadedModel, context: ModelContext) -> Any:
    """Predict once on the logged input example and encode the answer, so a model whose
    output cannot be answered never serves; then exercise the chosen predictor. Returns
    the warm-up output (None without an example)."""
    example = context.input_example
    if example is None:
        return None
    try:
        output = loaded.pyfunc.predict(example)
        outputs.encode(output, OutputForm.MLFLOW_JSON)
    except Exception as exc:
        raise ModelLoadError(
            f"warm-up prediction of version {loaded.version.version} failed: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    body = loaded.served.input_example
    if (
        loaded.predictor.name == PYFUNC
        or not isinstance(body, dict)
        or "dataframe_split" not in body
    ):
        return output
    try:
        loaded.predictor.predict(InputForm.SPLIT, body["dataframe_split"], None)
    except Exception as exc:
        # The specific path failed where MLflow's succeeded: serve through MLflow's.
        log.warning(
            "predictor %s failed its warm-up (%r); serving through pyfunc",
            loaded.predictor.name,
            exc,
        )
        info = loaded.served.predictor
        declined = {
            **(info.declined if info else {}),
            loaded.predictor.name: f"warm-up failed: {exc!r}",
        }
        loaded.predictor = PyfuncPredictor(context.pyfunc, context.input_schema, context.max_rows)
        loaded.served = replace(loaded.served, predictor=PredictorInfo(PYFUNC, {}, declined))
    return output


def _example_rows(example: Any) -> Any:
    """The input example as a request body (``{"dataframe_split": ...}``), if small."""
    if example is None:
        return None
    try:
        to_json = getattr(example, "to_json", None)
        if to_json is not None and hasattr(example, "columns"):
            split = json.loads(to_json(orient="split", date_format="iso"))
            split.pop("index", None)
            body: Any = {"dataframe_split": split}
        else:
            body = {"inputs": json.loads(outputs.dumps(example))}
    except Exception:
        return None
    if len(outputs.dumps(body)) > MAX_EXAMPLE_BYTES:
        return None
    return body


def _signature_dict(metadata: Any) -> dict[str, Any]:
    signature = metadata.signature
    if signature is None:
        return {}
    return {
        key: json.loads(value) if isinstance(value, str) else value
        for key, value in signature.to_dict().items()
        if key in ("inputs", "outputs", "params") and value is not None
    }


class ModelSlot:
    """Holds the served model. Swap is a single reference assignment."""

    def __init__(self) -> None:
        self.current: LoadedModel | None = None

    def swap(self, new: LoadedModel) -> LoadedModel | None:
        old, self.current = self.current, new
        return old

    @staticmethod
    def release(old: LoadedModel | None) -> None:
        """Drop the old model only after the swap; collect so its memory goes back."""
        if old is None:
            return
        name = f"{old.version.name} v{old.version.version}"
        del old
        gc.collect()
        log.info("released %s", name)

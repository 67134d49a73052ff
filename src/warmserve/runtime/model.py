"""A loaded, warmed-up model and the slot that holds the one being served."""

from __future__ import annotations

import gc
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from warmserve.errors import ModelLoadError
from warmserve.redaction import redact
from warmserve.registry import ModelVersion
from warmserve.runtime.fastpath import numeric_fast_path

log = logging.getLogger("warmserve.runtime")


@dataclass
class LoadedModel:
    version: ModelVersion
    pyfunc: Any  # mlflow.pyfunc.PyFuncModel
    input_schema: Any  # mlflow.types.Schema | None
    loaded_at: float
    load_seconds: float
    signature: dict[str, Any] = field(default_factory=dict)
    # Set when the fast numeric path applies (see runtime.fastpath).
    numeric_columns: tuple[str, ...] | None = None
    predict_fn: Any = None

    def describe(self) -> dict[str, Any]:
        """The JSON-able facts shown at GET /model."""
        return {
            **self.version.to_dict(),
            "loaded_at": datetime.fromtimestamp(self.loaded_at, UTC).isoformat(),
            "load_seconds": round(self.load_seconds, 3),
            "signature": self.signature,
        }


def load_model(version: ModelVersion) -> LoadedModel:
    """Download, load and warm up ``version``; any failure is a ModelLoadError."""
    import mlflow.pyfunc

    started = time.monotonic()
    try:
        pyfunc = mlflow.pyfunc.load_model(version.load_uri)
    except Exception as exc:
        raise ModelLoadError(
            redact(f"cannot load {version.load_uri}: {type(exc).__name__}: {exc}")
        ) from exc
    metadata = pyfunc.metadata
    loaded = LoadedModel(
        version=version,
        pyfunc=pyfunc,
        input_schema=metadata.get_input_schema(),
        loaded_at=time.time(),
        load_seconds=0.0,
        signature=_signature_dict(metadata),
    )
    loaded.numeric_columns, loaded.predict_fn = numeric_fast_path(pyfunc)
    warm_up(loaded)
    loaded.load_seconds = time.monotonic() - started
    return loaded


def warm_up(loaded: LoadedModel) -> None:
    """Predict once on the logged input example, so a broken model never serves."""
    try:
        example = loaded.pyfunc.input_example
    except Exception as exc:
        raise ModelLoadError(f"cannot read the input example: {exc}") from exc
    if example is None:
        return
    try:
        loaded.pyfunc.predict(example)
    except Exception as exc:
        raise ModelLoadError(
            f"warm-up prediction of version {loaded.version.version} failed: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


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

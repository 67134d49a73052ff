"""The models of the MLflow parity test (tests/e2e/test_mlflow_parity.py), registered once.

Most are MLflow models-from-code under tests/models/parity/; ``numeric`` is a real
scikit-learn model (it takes warmserve's compiled-linear predictor, not MLflow's path).
Each model is version 1 of a registered model of the same name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from support import MODELS, register_code_model

PARITY = MODELS / "parity"


def _signature(inputs: list[Any], params: list[Any] | None = None) -> Any:
    from mlflow.models import ModelSignature
    from mlflow.types import ParamSchema, Schema

    return ModelSignature(Schema(inputs), params=ParamSchema(params) if params else None)


def _numeric(settings: Any) -> None:
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow.types import ColSpec
    from sklearn.linear_model import LinearRegression

    from warmserve.registry import connect, ensure_experiment

    frame = pd.DataFrame({"a": np.arange(8.0), "b": np.arange(8.0) % 3})
    model = LinearRegression().fit(frame, frame["a"] * 2 + frame["b"] + 1)
    experiment = ensure_experiment(settings, connect(settings))
    with mlflow.start_run(experiment_id=experiment):
        mlflow.sklearn.log_model(
            model,
            name="model",
            signature=_signature([ColSpec("double", "a"), ColSpec("double", "b")]),
            input_example=frame.head(1),
            registered_model_name="numeric",
        )


def _code(
    name: str,
    signature: Callable[[], Any] | None = None,
    example: Callable[[], Any] | None = None,
    code: str | None = None,
) -> Callable[[Any], None]:
    def register(settings: Any) -> None:
        register_code_model(
            settings,
            name,
            PARITY / f"{code or name}.py",
            signature() if signature else None,
            example() if example else None,
            alias=None,
        )

    return register


def _frame(**columns: Any) -> Any:
    import pandas as pd

    return pd.DataFrame(columns)


def _typed_signature() -> Any:
    types = {"s": "string", "n": "long", "i": "integer", "b": "boolean", "t": "datetime"}
    types |= {"d": "double", "f": "float"}
    return _columns(**types)()


def _typed_example() -> Any:
    import numpy as np
    import pandas as pd

    return _frame(
        s=["a"], n=[1], i=np.array([1], dtype=np.int32), b=[True],
        t=pd.to_datetime(["2024-01-01"]), d=[0.5], f=np.array([0.25], dtype=np.float32),
    )  # fmt: skip


def _tensor_signature() -> Any:
    import numpy as np
    from mlflow.types import TensorSpec

    return _signature([TensorSpec(np.dtype(np.float32), (-1, 3))])


def _tensor_example() -> Any:
    import numpy as np

    return np.ones((1, 3), dtype=np.float32)


def _params_signature() -> Any:
    from mlflow.types import ColSpec, ParamSpec

    params = [
        ParamSpec("k", "long", 1),
        ParamSpec("mode", "string", "add"),
        ParamSpec("scale", "double", 1.0),
        ParamSpec("flag", "boolean", False),
        ParamSpec("ids", "long", [1, 2], shape=(-1,)),
    ]
    return _signature([ColSpec("double", "x")], params)


def _chat_signature() -> Any:
    from mlflow.types import ColSpec, ParamSpec
    from mlflow.types.schema import Array, Object, Property

    message = Object([Property("role", "string"), Property("content", "string")])
    return _signature(
        [ColSpec(Array(message), "messages")], [ParamSpec("temperature", "double", 0.5)]
    )


def _columns(**types: str) -> Callable[[], Any]:
    def signature() -> Any:
        from mlflow.types import ColSpec

        return _signature([ColSpec(kind, name) for name, kind in types.items()])

    return signature


REGISTER: dict[str, Callable[[Any], None]] = {
    "numeric": _numeric,
    "typed": _code("typed", _typed_signature, _typed_example),
    "tensor": _code("tensor", _tensor_signature, _tensor_example),
    "with_params": _code("with_params", _params_signature, lambda: _frame(x=[1.0])),
    "hinted_list": _code("hinted_list", example=lambda: ["a"]),
    "hinted_pydantic": _code(
        "hinted_pydantic", example=lambda: [{"role": "user", "content": "hi"}]
    ),
    "hinted_dict": _code("hinted_dict", example=lambda: [{"a": 1.0}]),
    "echo": _code("echo"),
    "shapes": _code("shapes", _columns(kind="string"), lambda: _frame(kind=["frame"])),
    "raiser": _code("raiser", _columns(x="double"), lambda: _frame(x=[0.0])),
    "series": _code("series", _columns(a="double", b="double"), lambda: _frame(a=[1.0], b=[2.0])),
    "chat": _code("chat"),
    "chat_params": _code(
        "chat_params",
        _chat_signature,
        lambda: {"messages": [{"role": "user", "content": "hi"}]},
        code="chat",
    ),
}


def register_all(settings: Any, names: list[str]) -> None:
    for name in names:
        REGISTER[name](settings)


def uri(name: str) -> str:
    return f"models:/{name}/1"

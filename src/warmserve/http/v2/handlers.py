"""The v2 routes FastAPI answers: server metadata, health, model metadata and readiness.

A model is named by its registered name (and optionally its version); any other name or
version is 404 ``{"error"}`` (the route table gives these routes the v2 error shape).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.responses import Response

from warmserve import __version__
from warmserve.http.exchange import ModelRef, public_name
from warmserve.ipc.client import RunnerClient
from warmserve.protocol import ServedModel, TensorMetadata

EXTENSIONS = ("binary_tensor_data",)
PLATFORM = "mlflow"


def _json(content: Any) -> Response:
    return Response(orjson.dumps(content), media_type="application/json")


def metadata_view(served: ServedModel) -> dict[str, Any]:
    """GET /v2/models/{name}: the version's tensors as decided at load."""
    tensors = served.tensors or TensorMetadata()
    return {
        "name": public_name(served),
        "versions": [served.version],
        "platform": PLATFORM,
        "inputs": tensors.inputs,
        "outputs": tensors.outputs,
    }


def v2_handlers(client: RunnerClient) -> dict[str, Callable[..., Awaitable[Response]]]:
    async def server() -> Response:
        return _json({"name": "warmserve", "version": __version__, "extensions": EXTENSIONS})

    async def live() -> Response:
        return _json({"live": True})

    async def ready() -> Response:
        ModelRef().check(client.served())
        return _json({"ready": True})

    async def model(name: str) -> Response:
        return _json(metadata_view(ModelRef(name).check(client.served())))

    async def model_version(name: str, version: str) -> Response:
        return _json(metadata_view(ModelRef(name, version).check(client.served())))

    async def model_ready(name: str) -> Response:
        served = ModelRef(name).check(client.served())
        return _json({"name": public_name(served), "ready": True})

    async def model_version_ready(name: str, version: str) -> Response:
        served = ModelRef(name, version).check(client.served())
        return _json({"name": public_name(served), "version": served.version, "ready": True})

    return {
        "v2_server": server,
        "v2_live": live,
        "v2_ready": ready,
        "v2_model": model,
        "v2_model_version": model_version,
        "v2_model_ready": model_ready,
        "v2_model_version_ready": model_version_ready,
    }

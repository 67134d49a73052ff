"""The throughput ceiling: FastAPI answering POST /invocations with a constant JSON.

It reads the request body (as any real endpoint must) and does nothing else, so
its req/s is what uvicorn + FastAPI on this machine can do at best.

    uvicorn --app-dir bench constant_app:app --loop uvloop --http httptools
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

PREDICTIONS = b'{"predictions":[1]}'

app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/ping")
async def ping() -> Response:
    return Response(b"{}", media_type="application/json")


@app.post("/invocations")
async def invocations(request: Request) -> Response:
    await request.body()
    return Response(PREDICTIONS, media_type="application/json")

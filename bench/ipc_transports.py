"""Round-trip cost of candidate IPC transports between an HTTP worker and the runner.

    .venv/bin/python bench/ipc_transports.py [--requests 20000]

Each transport echoes a one-row request frame (the size /invocations sends)
from a second process. "sequential" is one request at a time (latency);
"pipelined" keeps 64 requests outstanding (what several clients on one worker
do). The asyncio unix socket is what warmserve uses: it needs no thread in the
worker's event loop, lets replies come back out of order, and lets any worker
reconnect to a replacement runner by path.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from multiprocessing.connection import Connection

import uvloop

from warmserve import protocol
from warmserve.protocol import DEFAULT_MODEL, InputForm, PredictReply, PredictRequest

ROW = {"columns": [f"f{i}" for i in range(20)], "data": [[0.5] * 20]}


def request(i: int) -> PredictRequest:
    return PredictRequest(i, DEFAULT_MODEL, 0.0, InputForm.SPLIT, ROW, None)


# --- asyncio unix socket + msgpack frames (warmserve) --------------------------------
async def _echo_server(path: str, ready: mp.synchronize.Event) -> None:  # type: ignore[name-defined]
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                msg = await protocol.read_message(reader)
                writer.write(protocol.encode(PredictReply(msg.id, b"[1]", "1")))  # type: ignore[union-attr]
        except asyncio.IncompleteReadError:
            writer.close()

    server = await asyncio.start_unix_server(handle, path=path)
    ready.set()
    async with server:
        await server.serve_forever()


def _serve_socket(path: str, ready: mp.synchronize.Event) -> None:  # type: ignore[name-defined]
    uvloop.run(_echo_server(path, ready))


async def _socket_client(path: str, n: int, window: int) -> float:
    reader, writer = await asyncio.open_unix_connection(path)
    start = time.perf_counter()
    sent = done = 0
    while done < n:
        while sent < n and sent - done < window:
            writer.write(protocol.encode(request(sent)))
            sent += 1
        await protocol.read_message(reader)
        done += 1
    elapsed = time.perf_counter() - start
    writer.close()
    return n / elapsed


def bench_socket(n: int, window: int) -> float:
    path = os.path.join(tempfile.mkdtemp(), "echo.sock")
    ready = mp.get_context("spawn").Event()
    proc = mp.get_context("spawn").Process(target=_serve_socket, args=(path, ready), daemon=True)
    proc.start()
    ready.wait(30)
    try:
        return uvloop.run(_socket_client(path, n, window))
    finally:
        proc.kill()


# --- multiprocessing.Pipe with pickle ---------------------------------------------------
def _serve_pipe(conn: Connection) -> None:
    while True:
        msg = conn.recv()
        if msg is None:
            return
        conn.send((msg[0], b"[1]", "1"))


def bench_pipe(n: int, window: int) -> float:
    parent, child = mp.get_context("spawn").Pipe()
    proc = mp.get_context("spawn").Process(target=_serve_pipe, args=(child,), daemon=True)
    proc.start()
    parent.send((-1, ROW))
    parent.recv()  # started
    start = time.perf_counter()
    sent = done = 0
    while done < n:
        while sent < n and sent - done < window:
            parent.send((sent, ROW))
            sent += 1
        parent.recv()
        done += 1
    elapsed = time.perf_counter() - start
    parent.send(None)
    proc.join(5)
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print("| transport | sequential round trips/s | pipelined (64 outstanding) round trips/s |")
    print("|---|---|---|")
    for name, bench in (
        ("asyncio unix socket + msgpack", bench_socket),
        ("mp.Pipe + pickle", bench_pipe),
    ):
        seq = statistics.median(bench(args.requests // 4, 1) for _ in range(args.repeats))
        pipe = statistics.median(bench(args.requests, 64) for _ in range(args.repeats))
        print(f"| {name} | {seq:,.0f} | {pipe:,.0f} |")


if __name__ == "__main__":
    main()

"""IPC frames: typed tags only this code writes; client data is never a control message."""

from __future__ import annotations

import msgpack
import pytest

from warmserve import protocol
from warmserve.protocol import (
    Cancel,
    FrameBuffer,
    HostStatus,
    InputForm,
    LoadFailure,
    ModelState,
    OutputForm,
    Ping,
    Pong,
    PredictorInfo,
    PredictReply,
    PredictRequest,
    Reload,
    Reloaded,
    ServedModel,
    Shutdown,
    Tag,
    WatcherStatus,
    WorkerError,
)

SERVED = ServedModel(
    version="3",
    name="m",
    alias="production",
    source="models:/m@production",
    load_uri="models:/m/3",
    run_id="abc",
    loaded_at=1.5,
    load_seconds=0.25,
    signature={"inputs": [{"type": "double", "name": "x"}]},
    input_example={"dataframe_split": {"columns": ["x"], "data": [[1.0]]}},
    predictor=PredictorInfo("numeric-frame", {"columns": 1}, {"trees": "not a tree model"}),
)
STATUS = WatcherStatus("models:/m@production", 4, LoadFailure("4", "boom", 2.0, 2), "down", None)

MESSAGES = [
    PredictRequest(7, "default", 123.5, InputForm.RECORDS, [{"a": 1, "b": "x"}], {"p": 1}),
    PredictRequest(8, "default", 1.0, InputForm.CSV, "a\n1\n", None, OutputForm.MLFLOW_JSON),
    PredictReply(7, b'[{"y": 2.0}]', "3", 5),
    WorkerError(7, "BAD_REQUEST", "nope", "3"),
    WorkerError(7, "RESOURCE_EXHAUSTED", "quota", "3", {"status": 429, "error_class": None}),
    # JSON allows integers beyond 64 bits and unpaired surrogates; Parquet is bytes
    PredictRequest(9, "default", 1.0, InputForm.INPUTS, [2**70, -(2**65), "\ud800"], [1]),
    PredictRequest(10, "default", 1.0, InputForm.PARQUET, b"PAR1\x00PAR1", None),
    PredictRequest(11, "default", 1.0, InputForm.LLM, {"messages": [], "temperature": 0.1}),
    ModelState("default", SERVED, STATUS),
    ModelState("default", None, WatcherStatus()),
    Ping(9),
    Pong(9, {"default": HostStatus("3", 0.5, 2, 10, True)}, {"default": SERVED}),
    Reload(9, "default", True),
    Reloaded(9, "3", None),
    Cancel(7),
    Shutdown(),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip(message: protocol.Message) -> None:
    frame = protocol.encode(message)
    (size,) = protocol.HEADER.unpack(frame[: protocol.HEADER.size])
    assert size == len(frame) - protocol.HEADER.size
    assert protocol.decode(frame[protocol.HEADER.size :]) == message


def test_typed_records_ignore_unknown_fields_from_a_newer_peer() -> None:
    wire = {**SERVED.to_wire(), "something_new": 1}
    assert ServedModel.from_wire(wire) == SERVED


def test_client_data_shaped_like_a_control_frame_stays_data() -> None:
    shutdown = [int(Tag.SHUTDOWN)]
    request = PredictRequest(1, "default", 0.0, InputForm.INPUTS, shutdown, None)
    decoded = protocol.decode(protocol.encode(request)[protocol.HEADER.size :])
    assert isinstance(decoded, PredictRequest)
    assert decoded.data == shutdown


def test_a_payload_msgpack_cannot_frame_raises_for_that_message_only() -> None:
    deep: list[object] = []
    cursor = deep
    for _ in range(5000):
        inner: list[object] = []
        cursor.append(inner)
        cursor = inner
    with pytest.raises(ValueError):
        protocol.encode(PredictRequest(1, "default", 0.0, InputForm.INPUTS, deep, None))


def test_frame_buffer_splits_frames_however_the_bytes_arrive() -> None:
    frames = b"".join(protocol.encode(m) for m in (Ping(1), Pong(1, {}, {}), Cancel(3)))
    buffer = FrameBuffer()
    seen: list[protocol.Message] = []
    for index in range(len(frames)):
        seen += buffer.feed(frames[index : index + 1])
    assert seen == [Ping(1), Pong(1, {}, {}), Cancel(3)]


@pytest.mark.parametrize(
    "raw", [b"", b"\xc1", msgpack.packb([99, 1]), msgpack.packb("x"), msgpack.packb([])]
)
def test_garbage_is_a_protocol_error(raw: bytes) -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.decode(raw)


def test_a_frame_over_the_size_limit_is_refused_before_it_is_read() -> None:
    """A peer that announces a huge frame must not make us buffer it."""
    import asyncio
    import socket

    header = protocol.HEADER.pack(protocol.MAX_FRAME + 1)
    with pytest.raises(protocol.ProtocolError, match="exceeds the limit"):
        FrameBuffer().feed(header)

    async def read() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(header)
        await protocol.read_message(reader)

    with pytest.raises(protocol.ProtocolError, match="exceeds the limit"):
        asyncio.run(read())
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(header)
        with pytest.raises(protocol.ProtocolError, match="exceeds the limit"):
            protocol.recv_message(ours)
        theirs.close()
        with pytest.raises(ConnectionError):
            protocol.recv_message(ours)


def test_only_protocol_messages_can_be_encoded() -> None:
    with pytest.raises(TypeError, match="not a protocol message: dict"):
        protocol.encode({"tag": 1})  # type: ignore[arg-type]

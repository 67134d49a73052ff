"""IPC frames: typed tags only this code writes; client data is never a control message."""

from __future__ import annotations

import msgpack
import pytest

from warmserve import protocol
from warmserve.protocol import (
    Control,
    ControlKind,
    ModelState,
    PredictReply,
    PredictRequest,
    Tag,
    WorkerError,
)

MESSAGES = [
    PredictRequest(7, 123.5, "records", [{"a": 1, "b": "x"}], {"p": 1}),
    PredictReply(7, b'[{"y": 2.0}]', "3", 5),
    WorkerError(7, "BAD_REQUEST", "nope", "3"),
    Control(ControlKind.PING, 9),
    Control(ControlKind.RELOADED, 9, {"version": "2", "error": None}),
    ModelState({"name": "m", "version": "1"}, {"checks": 3}),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip(message: protocol.Message) -> None:
    frame = protocol.encode(message)
    (size,) = protocol.HEADER.unpack(frame[: protocol.HEADER.size])
    assert size == len(frame) - protocol.HEADER.size
    assert protocol.decode(frame[protocol.HEADER.size :]) == message


def test_client_data_shaped_like_a_control_frame_stays_data() -> None:
    shutdown = [int(Tag.CONTROL), int(ControlKind.SHUTDOWN), 0, {}]
    request = PredictRequest(1, 0.0, "inputs", shutdown, None)
    decoded = protocol.decode(protocol.encode(request)[protocol.HEADER.size :])
    assert isinstance(decoded, PredictRequest)
    assert decoded.data == shutdown


@pytest.mark.parametrize("raw", [b"", b"\xc1", msgpack.packb([99, 1]), msgpack.packb("x")])
def test_garbage_is_a_protocol_error(raw: bytes) -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.decode(raw)

"""Messages between HTTP workers, the supervisor and the model runner.

Every frame on the wire is a msgpack array whose first element is a tag that
only this module writes. A client's input travels as the *payload field* of a
``PredictRequest``; it is never inspected for a tag, so no value a client
sends can be mistaken for a control message. Errors cross the boundary
flattened to (code, message): user exceptions are never pickled.
"""

from __future__ import annotations

import asyncio
import enum
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

import msgpack

HEADER = struct.Struct("!I")
MAX_FRAME = 256 * 1024 * 1024


class Tag(enum.IntEnum):
    PREDICT = 1
    REPLY = 2
    ERROR = 3
    CONTROL = 4
    STATE = 5


class ControlKind(enum.IntEnum):
    PING = 1
    PONG = 2
    RELOAD = 3
    RELOADED = 4
    SHUTDOWN = 5


@dataclass(slots=True)
class PredictRequest:
    """One client request: ``fmt`` names the input form, ``data`` holds it."""

    id: int
    deadline: float  # time.monotonic() in the sender; CLOCK_MONOTONIC is machine-wide
    fmt: str  # "split" | "records" | "instances" | "inputs" | "csv"
    data: Any
    params: dict[str, Any] | None = None


@dataclass(slots=True)
class PredictReply:
    """``body`` is the JSON text of this request's predictions."""

    id: int
    body: bytes
    version: str
    batch_size: int = 1


@dataclass(slots=True)
class WorkerError:
    id: int
    code: str
    message: str
    version: str | None = None


@dataclass(slots=True)
class Control:
    kind: ControlKind
    id: int = 0
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ModelState:
    """What the runner serves now; pushed to every connection on change."""

    model: dict[str, Any] | None  # ModelVersion.to_dict() + loaded_at, signature...
    status: dict[str, Any] = field(default_factory=dict)  # last error, attempts...


Message = PredictRequest | PredictReply | WorkerError | Control | ModelState


def encode(msg: Message) -> bytes:
    """Serialize ``msg`` into one length-prefixed frame."""
    if isinstance(msg, PredictRequest):
        obj: list[Any] = [Tag.PREDICT, msg.id, msg.deadline, msg.fmt, msg.data, msg.params]
    elif isinstance(msg, PredictReply):
        obj = [Tag.REPLY, msg.id, msg.body, msg.version, msg.batch_size]
    elif isinstance(msg, WorkerError):
        obj = [Tag.ERROR, msg.id, msg.code, msg.message, msg.version]
    elif isinstance(msg, Control):
        obj = [Tag.CONTROL, int(msg.kind), msg.id, msg.body]
    elif isinstance(msg, ModelState):
        obj = [Tag.STATE, msg.model, msg.status]
    else:  # pragma: no cover - guarded by the type checker
        raise TypeError(f"not a protocol message: {type(msg).__name__}")
    packed = msgpack.packb(obj, use_bin_type=True)
    return HEADER.pack(len(packed)) + packed


class ProtocolError(ValueError):
    """A frame that is not one of ours; the connection is closed."""


def decode(packed: bytes) -> Message:
    """Parse one frame body (without its length prefix)."""
    try:
        obj = msgpack.unpackb(packed, raw=False, strict_map_key=False)
        tag = Tag(obj[0])
        if tag is Tag.PREDICT:
            return PredictRequest(obj[1], obj[2], obj[3], obj[4], obj[5])
        if tag is Tag.REPLY:
            return PredictReply(obj[1], obj[2], obj[3], obj[4])
        if tag is Tag.ERROR:
            return WorkerError(obj[1], obj[2], obj[3], obj[4])
        if tag is Tag.CONTROL:
            return Control(ControlKind(obj[1]), obj[2], obj[3])
        return ModelState(obj[1], obj[2])
    except (ValueError, IndexError, TypeError, msgpack.UnpackException) as exc:
        raise ProtocolError(f"malformed frame: {exc}") from exc


async def read_message(reader: asyncio.StreamReader) -> Message:
    """Read one frame from an asyncio stream (raises IncompleteReadError at EOF)."""
    header = await reader.readexactly(HEADER.size)
    (size,) = HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ProtocolError(f"frame of {size} bytes exceeds the limit")
    return decode(await reader.readexactly(size))


def recv_message(sock: socket.socket) -> Message:
    """Read one frame from a blocking socket (honours the socket's timeout)."""
    (size,) = HEADER.unpack(_recv_exact(sock, HEADER.size))
    if size > MAX_FRAME:
        raise ProtocolError(f"frame of {size} bytes exceeds the limit")
    return decode(_recv_exact(sock, size))


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("peer closed the connection")
        chunks += chunk
    return bytes(chunks)

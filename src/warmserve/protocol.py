"""Messages between HTTP workers, the supervisor and the model runner.

Every frame on the wire is a msgpack array whose first element is a tag that
only this module writes. A client's input travels as the *payload field* of a
``PredictRequest``; it is never inspected for a tag, so no value a client
sends can be mistaken for a control message. Errors cross the boundary
flattened to (code, message): user exceptions are never pickled, and nothing
here is ever unpickled.

What the runner serves crosses processes as typed records (``ServedModel``,
``WatcherStatus``, ``HostStatus``); the public ``/model`` view is built from
them by one function in the HTTP layer, so renaming an internal field can
never change the API by accident.
"""

from __future__ import annotations

import asyncio
import enum
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, is_dataclass
from itertools import pairwise
from typing import Any, ClassVar, TypeVar

import msgpack

HEADER = struct.Struct("!I")
MAX_FRAME = 256 * 1024 * 1024
DEFAULT_MODEL = "default"  # the key of the one model host a runner has today


class Tag(enum.IntEnum):
    PREDICT = 1
    REPLY = 2
    ERROR = 3
    STATE = 5
    PING = 6
    PONG = 7
    RELOAD = 8
    RELOADED = 9
    SHUTDOWN = 10
    CANCEL = 11


class InputForm(enum.StrEnum):
    """How a request's rows are written; the runner parses each form its own way."""

    SPLIT = "split"  # pandas orient="split": {"columns", "data", "index"}
    RECORDS = "records"  # a list of {"column": value} objects
    INSTANCES = "instances"  # TF-serving style rows or records
    INPUTS = "inputs"  # a tensor, or a dict of columns
    CSV = "csv"  # text with a header row
    TENSORS = "tensors"  # named typed tensors (Open Inference Protocol v2); see TENSOR_CODES
    PARQUET = "parquet"  # the bytes of a Parquet file
    LLM = "llm"  # a chat/completions/embeddings body, passed whole (MLflow's unified LLM input)
    # numeric rows packed by the worker: {"columns": [...], "rows": n, "values": float64 bytes,
    # little-endian, row-major}; see warmserve.http.packing
    MATRIX = "matrix"


class OutputForm(enum.StrEnum):
    """How the runner encodes a prediction for the worker."""

    MLFLOW_JSON = "mlflow-json"  # JSON text of what `mlflow models serve` puts under "predictions"
    # Named typed tensors as a JSON array of {"name", "datatype", "shape", ...}: with "data"
    # (flat values) or with "raw" (base64 of the v2 binary form) for the v2 binary extension.
    V2_JSON = "v2-json"
    V2_BINARY = "v2-binary"


# The tensors of InputForm.TENSORS: each is [name, datatype, shape, raw], where raw is the
# tensor in the v2 binary form (row-major, little-endian; BOOL one byte; BYTES a 4-byte
# little-endian length before each element). Datatype -> struct format character, which
# numpy reads as well (np.dtype("<" + code)); BYTES has none.
TENSOR_CODES: dict[str, str] = {
    "BOOL": "?",
    "UINT8": "B",
    "UINT16": "H",
    "UINT32": "I",
    "UINT64": "Q",
    "INT8": "b",
    "INT16": "h",
    "INT32": "i",
    "INT64": "q",
    "FP16": "e",
    "FP32": "f",
    "FP64": "d",
}
BYTES = "BYTES"
BYTES_LENGTH = struct.Struct("<I")


def bytes_offsets(raw: bytes) -> list[int]:
    """Where each element of a BYTES tensor starts (at its length), then the end.
    ValueError when the lengths do not add up to ``raw``."""
    offsets = [0]
    offset, end = 0, len(raw)
    while offset < end:
        if offset + BYTES_LENGTH.size > end:
            raise ValueError("the data ends inside an element's 4-byte length")
        (size,) = BYTES_LENGTH.unpack_from(raw, offset)
        offset += BYTES_LENGTH.size + size
        if offset > end:
            raise ValueError("the data ends inside an element")
        offsets.append(offset)
    return offsets


def bytes_elements(raw: bytes) -> list[bytes]:
    offsets = bytes_offsets(raw)
    return [raw[start + BYTES_LENGTH.size : stop] for start, stop in pairwise(offsets)]


def join_bytes(items: Iterable[bytes]) -> bytes:
    """BYTES elements in their binary form."""
    return b"".join(BYTES_LENGTH.pack(len(item)) + item for item in items)


# --- typed records ------------------------------------------------------------------

R = TypeVar("R", bound="Record")


class Record:
    """A dataclass that crosses processes as a plain dict (msgpack), never pickled."""

    NESTED: ClassVar[dict[str, type[Record]]] = {}

    def to_wire(self) -> dict[str, Any]:
        assert is_dataclass(self)
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.to_wire() if isinstance(value, Record) else value
        return out

    @classmethod
    def from_wire(cls: type[R], data: dict[str, Any]) -> R:
        """Rebuild from a dict; unknown keys are ignored (an older peer during a swap)."""
        assert is_dataclass(cls)
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                continue
            nested = cls.NESTED.get(key)
            kwargs[key] = nested.from_wire(value) if nested and value is not None else value
        return cls(**kwargs)


@dataclass(frozen=True, slots=True)
class PredictorInfo(Record):
    """Which predictor serves a version, and why the more specific ones do not."""

    name: str
    detail: dict[str, Any] = field(default_factory=dict)  # verification, backend, threads...
    declined: dict[str, str] = field(default_factory=dict)  # predictor -> reason


@dataclass(frozen=True, slots=True)
class TensorMetadata(Record):
    """A version's inputs and outputs as named typed tensors (v2 model metadata).

    Each entry is ``{"name", "datatype", "shape"}``; -1 in a shape is any size. Decided
    once at load, so the metadata and every tensor answer name and type outputs alike.
    ``outputs`` is empty when neither the signature nor a warm-up output tells them.
    """

    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ServedModel(Record):
    """One loaded version, as every process sees it."""

    NESTED: ClassVar[dict[str, type[Record]]] = {
        "predictor": PredictorInfo,
        "tensors": TensorMetadata,
    }

    version: str
    name: str | None = None
    alias: str | None = None
    source: str | None = None
    load_uri: str | None = None
    run_id: str | None = None
    loaded_at: float = 0.0  # unix seconds
    load_seconds: float = 0.0
    signature: dict[str, Any] = field(default_factory=dict)
    input_example: Any = None  # JSON-able rows for docs and forms (bounded size)
    predictor: PredictorInfo | None = None
    tensors: TensorMetadata | None = None


@dataclass(frozen=True, slots=True)
class LoadFailure(Record):
    """The most recent version that failed to load or warm up."""

    version: str
    error: str
    at: float  # unix seconds
    attempts: int


@dataclass(frozen=True, slots=True)
class WatcherStatus(Record):
    """What the watcher knows about the model source."""

    NESTED: ClassVar[dict[str, type[Record]]] = {"last_failure": LoadFailure}

    source: str | None = None
    checks: int = 0
    last_failure: LoadFailure | None = None
    registry_error: str | None = None
    source_missing: str | None = None
    healthy: bool = True  # False once a loop of this host has died (the runner is replaced)


@dataclass(frozen=True, slots=True)
class HostStatus(Record):
    """One model host's load, as the runner answers a ping."""

    version: str | None = None
    busy_for: float = 0.0  # seconds the current predict call has been running
    queued: int = 0
    batches: int = 0
    healthy: bool = True


# --- messages ------------------------------------------------------------------------


@dataclass(slots=True)
class PredictRequest:
    """One client request for model ``model``: ``form`` names the input form, ``data`` holds it."""

    id: int
    model: str
    deadline: float  # time.monotonic() in the sender; CLOCK_MONOTONIC is machine-wide
    form: InputForm
    data: Any
    params: Any = None  # the JSON the client sent as params (MLflow checks its type)
    output: OutputForm = OutputForm.MLFLOW_JSON


@dataclass(slots=True)
class PredictReply:
    """``body`` is this request's prediction encoded in the requested output form."""

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
    detail: dict[str, Any] | None = None  # status, error_class, sqlstate, stack_trace


@dataclass(slots=True)
class ModelState:
    """What one model host serves now; pushed to every connection on change."""

    model: str
    served: ServedModel | None
    status: WatcherStatus


@dataclass(slots=True)
class Ping:
    id: int


@dataclass(slots=True)
class Pong:
    id: int
    hosts: dict[str, HostStatus]
    resume: dict[str, ServedModel]  # what to load again if this runner is replaced


@dataclass(slots=True)
class Reload:
    id: int
    model: str
    wait: bool


@dataclass(slots=True)
class Reloaded:
    id: int
    version: str | None  # served after the check
    error: str | None = None  # why the check did not load what the source points to


@dataclass(slots=True)
class Cancel:
    """The client of request ``id`` has gone: drop it if the model has not started on it."""

    id: int


@dataclass(slots=True)
class Shutdown:
    pass


Message = (
    PredictRequest
    | PredictReply
    | WorkerError
    | ModelState
    | Ping
    | Pong
    | Reload
    | Reloaded
    | Cancel
    | Shutdown
)


def _wire(msg: Message) -> list[Any]:
    if isinstance(msg, PredictRequest):
        return [
            Tag.PREDICT, msg.id, msg.model, msg.deadline, str(msg.form), msg.data, msg.params,
            str(msg.output),
        ]  # fmt: skip
    if isinstance(msg, PredictReply):
        return [Tag.REPLY, msg.id, msg.body, msg.version, msg.batch_size]
    if isinstance(msg, WorkerError):
        return [Tag.ERROR, msg.id, msg.code, msg.message, msg.version, msg.detail]
    if isinstance(msg, ModelState):
        served = msg.served.to_wire() if msg.served is not None else None
        return [Tag.STATE, msg.model, served, msg.status.to_wire()]
    if isinstance(msg, Ping):
        return [Tag.PING, msg.id]
    if isinstance(msg, Pong):
        hosts = {key: status.to_wire() for key, status in msg.hosts.items()}
        resume = {key: served.to_wire() for key, served in msg.resume.items()}
        return [Tag.PONG, msg.id, hosts, resume]
    if isinstance(msg, Reload):
        return [Tag.RELOAD, msg.id, msg.model, msg.wait]
    if isinstance(msg, Reloaded):
        return [Tag.RELOADED, msg.id, msg.version, msg.error]
    if isinstance(msg, Cancel):
        return [Tag.CANCEL, msg.id]
    if isinstance(msg, Shutdown):
        return [Tag.SHUTDOWN]
    raise TypeError(f"not a protocol message: {type(msg).__name__}")


# Integers beyond 64 bits (JSON allows them; MLflow's parser keeps them exact) travel as
# their decimal text in a msgpack extension; strings keep unpaired surrogates, as JSON
# text may hold them.
BIG_INT = 1
UNICODE_ERRORS = "surrogatepass"


def _pack_default(value: Any) -> Any:
    if isinstance(value, int):
        return msgpack.ExtType(BIG_INT, str(value).encode("ascii"))
    raise TypeError(f"cannot frame a value of type {type(value).__name__}")


def _unpack_ext(code: int, data: bytes) -> Any:
    if code == BIG_INT:
        return int(data.decode("ascii"))
    return msgpack.ExtType(code, data)


def encode(msg: Message) -> bytes:
    """Serialize ``msg`` into one length-prefixed frame.

    Raises ``ValueError`` (msgpack's nesting limit) or ``TypeError`` for a payload
    that cannot be framed; callers turn that into an error for that request only.
    """
    packed: bytes = msgpack.packb(
        _wire(msg), use_bin_type=True, default=_pack_default, unicode_errors=UNICODE_ERRORS
    )
    return HEADER.pack(len(packed)) + packed


class ProtocolError(ValueError):
    """A frame that is not one of ours; the connection is closed."""


def _unwire(obj: list[Any]) -> Message:
    tag = Tag(obj[0])
    if tag is Tag.PREDICT:
        return PredictRequest(
            obj[1], obj[2], obj[3], InputForm(obj[4]), obj[5], obj[6], OutputForm(obj[7])
        )
    if tag is Tag.REPLY:
        return PredictReply(obj[1], obj[2], obj[3], obj[4])
    if tag is Tag.ERROR:
        return WorkerError(obj[1], obj[2], obj[3], obj[4], obj[5] if len(obj) > 5 else None)
    if tag is Tag.STATE:
        served = ServedModel.from_wire(obj[2]) if obj[2] is not None else None
        return ModelState(obj[1], served, WatcherStatus.from_wire(obj[3]))
    if tag is Tag.PING:
        return Ping(obj[1])
    if tag is Tag.PONG:
        hosts = {key: HostStatus.from_wire(value) for key, value in obj[2].items()}
        resume = {key: ServedModel.from_wire(value) for key, value in obj[3].items()}
        return Pong(obj[1], hosts, resume)
    if tag is Tag.RELOAD:
        return Reload(obj[1], obj[2], bool(obj[3]))
    if tag is Tag.RELOADED:
        return Reloaded(obj[1], obj[2], obj[3])
    if tag is Tag.CANCEL:
        return Cancel(obj[1])
    return Shutdown()


def decode(packed: bytes) -> Message:
    """Parse one frame body (without its length prefix)."""
    try:
        obj = msgpack.unpackb(
            packed,
            raw=False,
            strict_map_key=False,
            ext_hook=_unpack_ext,
            unicode_errors=UNICODE_ERRORS,
        )
        if not isinstance(obj, list) or not obj:
            raise ValueError("a frame is a non-empty array")
        return _unwire(obj)
    except (ValueError, IndexError, TypeError, KeyError, AttributeError) as exc:
        raise ProtocolError(f"malformed frame: {exc}") from exc
    except msgpack.UnpackException as exc:
        raise ProtocolError(f"malformed frame: {exc}") from exc


async def read_message(reader: asyncio.StreamReader) -> Message:
    """Read one frame from an asyncio stream (raises IncompleteReadError at EOF)."""
    header = await reader.readexactly(HEADER.size)
    (size,) = HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ProtocolError(f"frame of {size} bytes exceeds the limit")
    return decode(await reader.readexactly(size))


class FrameBuffer:
    """Frames from a non-blocking socket, however the bytes arrive (the supervisor's side)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        self._buffer += data
        messages: list[Message] = []
        while len(self._buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(self._buffer)
            if size > MAX_FRAME:
                raise ProtocolError(f"frame of {size} bytes exceeds the limit")
            end = HEADER.size + size
            if len(self._buffer) < end:
                break
            messages.append(decode(bytes(self._buffer[HEADER.size : end])))
            del self._buffer[:end]
        return messages


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

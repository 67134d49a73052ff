"""The stored form of a cached prediction: a tiny binary layout, validated on read.

Whoever can write to the store (another tenant of a shared Redis, a bug, a
corrupted page) must not be able to run code in a worker or make it serve a
forged answer. So the format is plain bytes — nothing that executes on load,
never pickle — and every read checks structure, types, an optional HMAC and that
the body is JSON before the value is trusted.

Layout (little endian)::

    magic "WSC1" | flags u8 | expires_at f64 (unix seconds, 0 = never)
    | version length u16 | version (UTF-8) | HMAC-SHA256 (32 bytes, if flag 1) | body
"""

from __future__ import annotations

import hashlib
import hmac
import math
import struct

import orjson

from warmserve.cache.base import CachedPrediction

MAGIC = b"WSC1"
FLAG_SIGNED = 0x01
MAC_SIZE = hashlib.sha256().digest_size
MAX_VERSION_BYTES = 0xFFFF
_HEADER = struct.Struct("<4sBdH")
_KEY_LENGTH = struct.Struct("<I")


class InvalidEntry(ValueError):
    """A stored entry failed validation; ``reason`` is a short, log-friendly kind."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EntryCodec:
    """Encodes and validates entries; with a secret, signs them and demands a signature.

    The MAC covers the cache key too, so a valid entry copied under another key
    (another input's answer) is rejected as well.
    """

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or None

    @property
    def signed(self) -> bool:
        return self._secret is not None

    def encode(self, key: bytes, value: CachedPrediction, expires_at: float = 0.0) -> bytes:
        version = value.version.encode("utf-8")
        if len(version) > MAX_VERSION_BYTES:
            raise ValueError("model version string too long to cache")
        flags = FLAG_SIGNED if self._secret is not None else 0
        header = _HEADER.pack(MAGIC, flags, expires_at, len(version))
        mac = self._mac(key, header, version, value.body) if self._secret is not None else b""
        return b"".join((header, version, mac, value.body))

    def decode(self, key: bytes, raw: bytes, version: str) -> tuple[CachedPrediction, float]:
        """Return the value and its expiry time (0 = never) or raise :class:`InvalidEntry`.

        ``version`` is the model version ``key`` was built for: an entry claiming any
        other version is refused, signed or not (whoever wrote it, it is not the
        answer this key stands for).
        """
        if len(raw) < _HEADER.size:
            raise InvalidEntry("truncated")
        magic, flags, expires_at, version_length = _HEADER.unpack_from(raw)
        if magic != MAGIC:
            raise InvalidEntry("bad magic")
        if flags & ~FLAG_SIGNED:
            raise InvalidEntry("unknown flags")
        if not (math.isfinite(expires_at) and expires_at >= 0):
            raise InvalidEntry("bad expiry")
        start = _HEADER.size
        version_end = start + version_length
        body_start = version_end + (MAC_SIZE if flags & FLAG_SIGNED else 0)
        if len(raw) < body_start:
            raise InvalidEntry("truncated")
        header = raw[:start]
        version_bytes = raw[start:version_end]
        body = raw[body_start:]
        if self._secret is not None:
            if not flags & FLAG_SIGNED:
                raise InvalidEntry("unsigned")
            expected = self._mac(key, header, version_bytes, body)
            if not hmac.compare_digest(expected, raw[version_end:body_start]):
                raise InvalidEntry("bad signature")
        if version_bytes != version.encode("utf-8", "surrogatepass"):
            raise InvalidEntry("version mismatch")
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError:
            raise InvalidEntry("body is not JSON") from None
        return CachedPrediction(body=body, version=version), expires_at

    def _mac(self, key: bytes, header: bytes, version: bytes, body: bytes) -> bytes:
        assert self._secret is not None
        mac = hmac.new(self._secret, _KEY_LENGTH.pack(len(key)), hashlib.sha256)
        for part in (key, header, version, body):
            mac.update(part)
        return mac.digest()

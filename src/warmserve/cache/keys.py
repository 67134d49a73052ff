"""Cache keys: a digest of everything that decides a prediction.

The key must be the same in every process and on every machine (so no ``hash()``,
whose seed differs per process) and must tell apart inputs a model could treat
differently: ``1``, ``1.0`` and ``"1"`` give different keys because they give
different dtypes. The served version is part of the key, so entries written by an
older version are never found after a swap — no invalidation step is needed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

# Bumped whenever the canonical form changes, so old and new keys never collide.
_DOMAIN = b"warmserve/prediction-key/v1\x00"

KEY_SIZE = hashlib.sha256().digest_size


def cache_key(
    model: str | None, version: str, fmt: str, data: Any, params: dict[str, Any] | None
) -> bytes:
    """Return the 32-byte SHA-256 key of one prediction request.

    The canonical form is orjson with sorted keys (dict order is irrelevant; JSON
    types are kept: ``1`` -> ``1``, ``1.0`` -> ``1.0``). Values orjson cannot write
    (integers beyond 64 bits, lone surrogates) fall back to the standard library's
    JSON under a different tag, so the two forms never collide. Input decoded by
    orjson has no NaN/Infinity (it rejects them), which orjson would write as null.
    """
    payload = [model, version, fmt, data, params]
    try:
        text = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
        tag = b"o"
    except orjson.JSONEncodeError:
        text = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("ascii")
        tag = b"j"
    return hashlib.sha256(_DOMAIN + tag + text).digest()

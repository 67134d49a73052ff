"""The admin-token rule shared by every HTTP service of warmserve (API and trainer).

A header is compared as bytes in constant time, so no value a client sends (non-ASCII,
latin-1, lone surrogates, huge) can raise; anything that is not exactly
``Bearer <token>`` is refused, and an empty configured token matches nothing.
"""

from __future__ import annotations

import hmac

from pydantic import SecretStr

MAX_HEADER = 4096


def bearer_token_matches(authorization: str | bytes | None, expected: SecretStr | None) -> bool:
    """True when no token is configured, or ``authorization`` carries exactly that token.

    A ``str`` is taken as an ASGI server hands it over (the header's bytes decoded
    as latin-1); the token is compared with the UTF-8 bytes of ``expected``.
    """
    if expected is None:
        return True
    if authorization is None:
        return False
    if len(authorization) > MAX_HEADER:
        return False
    raw = authorization if isinstance(authorization, bytes) else _header_bytes(authorization)
    if len(raw) > MAX_HEADER:
        return False
    scheme, _, token = raw.strip().partition(b" ")
    wanted = _text_bytes(expected.get_secret_value())
    if scheme.lower() != b"bearer" or not wanted:
        return False
    return hmac.compare_digest(token.strip(), wanted)


def _header_bytes(value: str) -> bytes:
    """The bytes the client sent: ASGI servers decode header values as latin-1."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return _text_bytes(value)


def _text_bytes(value: str) -> bytes:
    """UTF-8, keeping bytes an environment variable could not decode (surrogateescape)
    and any other lone surrogate (surrogatepass): encoding never raises."""
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")

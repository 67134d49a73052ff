"""The admin-token rule shared by every HTTP service of warmserve (API and trainer).

A header is compared as bytes in constant time, so no value a client sends (non-ASCII,
latin-1, huge) can raise; anything that is not exactly ``Bearer <token>`` is refused.
"""

from __future__ import annotations

import hmac

from pydantic import SecretStr

MAX_HEADER = 4096


def bearer_token_matches(authorization: str | bytes | None, expected: SecretStr | None) -> bool:
    """True when no token is configured, or ``authorization`` carries exactly that token."""
    if expected is None:
        return True
    if authorization is None:
        return False
    raw = (
        authorization
        if isinstance(authorization, bytes)
        else authorization.encode("utf-8", "surrogateescape")
    )
    if len(raw) > MAX_HEADER:
        return False
    scheme, _, token = raw.strip().partition(b" ")
    if scheme.lower() != b"bearer":
        return False
    return hmac.compare_digest(token.strip(), expected.get_secret_value().encode("utf-8"))

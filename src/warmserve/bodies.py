"""Read a request body with a size limit, refusing early when the declared length is over.

A leaf module any web app of warmserve can use (the trainer does; the API's
``http/app.read_body`` is the same rule).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from warmserve.errors import PayloadTooLarge


async def read_limited(chunks: AsyncIterator[bytes], declared: str | None, limit: int) -> bytes:
    """All of ``chunks``, or PayloadTooLarge as soon as ``limit`` bytes are exceeded."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is {declared} bytes; the limit is {limit}")
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"the body exceeds the limit of {limit} bytes")
    return bytes(body)

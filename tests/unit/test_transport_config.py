"""How a worker configures uvicorn: the limits protocol, and the shutdown grace as given."""

from __future__ import annotations

from warmserve.http.transport import LimitedHttpToolsProtocol, TransportLimits, uvicorn_config
from warmserve.settings import Settings


async def app(scope: object, receive: object, send: object) -> None:  # never called
    raise AssertionError


def test_grace_under_a_second_is_kept() -> None:
    # int(0.5) or None used to turn a half-second grace into "wait forever"
    assert uvicorn_config(app, Settings(shutdown_grace=0.5)).timeout_graceful_shutdown == 0.5
    assert uvicorn_config(app, Settings(shutdown_grace=0)).timeout_graceful_shutdown == 0


def test_the_protocol_carries_the_configured_limits() -> None:
    settings = Settings(
        max_header_bytes=4096, header_timeout=2, body_timeout=3, keep_alive_timeout=4
    )
    protocol = uvicorn_config(app, settings).http
    assert isinstance(protocol, type) and issubclass(protocol, LimitedHttpToolsProtocol)
    assert protocol.limits == TransportLimits(4096, 2.0, 3.0, 4.0)

"""Every setting has a CLI flag and an env twin, and the flag wins over the environment."""

from __future__ import annotations

import socket

import pytest

from warmserve.cli import _settings, build_parser
from warmserve.settings import Settings
from warmserve.supervisor import bind_socket


def command_flags(command: str) -> set[str]:
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    return {opt for action in sub._actions for opt in action.option_strings}


def test_every_server_setting_is_a_serve_flag() -> None:
    server = [n for n in Settings.model_fields if not n.startswith(("trainer_", "mlflow_"))]
    assert {"--" + name.replace("_", "-") for name in server} <= command_flags("serve")


def test_every_setting_is_a_flag_of_some_command() -> None:
    flags = set().union(*(command_flags(c) for c in ("serve", "trainer", "mlflow", "stack")))
    assert {"--" + name.replace("_", "-") for name in Settings.model_fields} <= flags


def test_env_twin_and_flag_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARMSERVE_PORT", "9001")
    monkeypatch.setenv("WARMSERVE_WORKERS", "3")
    monkeypatch.setenv("WARMSERVE_MAX_BATCH_DELAY_MS", "0.5")
    args = build_parser().parse_args(["serve", "--workers", "5"])
    settings = _settings(args)
    assert settings.port == 9001  # from the environment
    assert settings.workers == 5  # the flag wins
    assert settings.max_batch_delay == pytest.approx(0.0005)


def test_defaults_are_safe() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.admin_token is None
    assert settings.cache is None


def test_mlflow_tracking_uri_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WARMSERVE_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert Settings().resolved_tracking_uri() == "http://127.0.0.1:5000"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert Settings(home="/data/ws").resolved_tracking_uri() == "sqlite:////data/ws/mlflow.db"


def test_invalid_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="cache"):
        Settings(cache="memcached://x")
    with pytest.raises(ValueError):
        Settings(workers=0)


def test_accepted_connections_inherit_tcp_nodelay() -> None:
    """Nagle + delayed ACK would add ~40 ms to every multi-worker response."""
    listener = bind_socket("127.0.0.1", 0)
    try:
        with socket.create_connection(listener.getsockname()):
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        listener.close()

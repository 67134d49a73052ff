"""Every setting has a CLI flag and an env twin, and the flag wins over the environment."""

from __future__ import annotations

import socket

import pytest

from warmserve.cli import _settings, build_parser, main
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


def test_redis_cache_needs_a_secret_or_an_explicit_opt_out(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(ValueError, match="WARMSERVE_CACHE_SECRET"):
        Settings(cache="redis://127.0.0.1:6379/0")
    with pytest.raises(ValueError, match="WARMSERVE_CACHE_SECRET"):
        Settings(cache="redis://127.0.0.1:6379/0", cache_secret="")  # empty is no secret
    assert Settings(cache="redis://127.0.0.1:6379/0", cache_secret="s").cache_signing_key() == b"s"
    assert (
        Settings(cache="redis://127.0.0.1:6379/0", cache_unsigned=True).cache_signing_key() is None
    )
    assert Settings(cache="local").cache_signing_key() is None  # one machine, private dir
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--cache", "redis://:pw@127.0.0.1:6379/0"])
    assert exited.value.code == 2
    assert "WARMSERVE_CACHE_UNSIGNED=true" in capsys.readouterr().err


def test_replica_name_defaults_to_the_host_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WARMSERVE_REPLICA_NAME", raising=False)
    assert Settings().replica_name == socket.gethostname()
    monkeypatch.setenv("WARMSERVE_REPLICA_NAME", "api-7d9f8-x2k4q")
    assert Settings().replica_name == "api-7d9f8-x2k4q"
    with pytest.raises(ValueError):
        Settings(replica_name="")


def test_role_flags_and_their_documented_rows() -> None:
    """trainer --port is trainer_port; stack keeps --trainer-port (the API has --port)."""
    from pathlib import Path

    from warmserve.cli import API_SIDE, MLFLOW_FIELDS, STACK_FIELDS, TRAINER_FIELDS, settings_flags

    assert settings_flags("trainer_port", TRAINER_FIELDS, "trainer_") == [
        "--port",
        "--trainer-port",
    ]
    assert settings_flags("trainer_port", STACK_FIELDS, "trainer_") == ["--trainer-port"]
    assert settings_flags("trainer_name", STACK_FIELDS, "trainer_")[0] == "--name"
    assert {"--port", "--name", "--target", "--eval", "--gate"} <= command_flags("trainer")
    assert {"--trainer-port", "--mlflow-port", "--name", "--eval"} <= command_flags("stack")
    assert "--model" not in command_flags("stack")
    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    for prefix, fields in (("trainer_", TRAINER_FIELDS), ("mlflow_", MLFLOW_FIELDS)):
        for name in (n for n in Settings.model_fields if n.startswith(prefix)):
            if name in API_SIDE:
                continue
            info = Settings.model_fields[name]
            flags = ", ".join(f"`{f}`" for f in settings_flags(name, fields, prefix))
            stack = settings_flags(name, STACK_FIELDS, "trainer_")[0]
            default = info.default if info.default is not None else "unset"
            row = f"| {flags} | `{stack}` | `WARMSERVE_{name.upper()}` | `{default}` |"
            assert row in doc, row


def test_trainer_flags_reach_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARMSERVE_TRAINER_MODE", "replace")
    args = build_parser().parse_args(
        ["trainer", "--name", "churn", "--target", "y", "--port", "0", "--gate", "f1 >= 0.5"]
    )
    settings = _settings(args)
    assert (settings.trainer_name, settings.trainer_target, settings.trainer_port) == (
        "churn",
        "y",
        0,
    )
    assert settings.trainer_mode == "replace" and settings.trainer_gate == "f1 >= 0.5"
    assert settings.port == 8000  # the API's port is another setting

"""The one configuration object.

Every field is settable as ``WARMSERVE_<FIELD>`` in the environment and as
``--<field-with-dashes>`` on the command line (the CLI builds its flags from
this class, so the two can never drift apart). No I/O happens here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["debug", "info", "warning", "error"]


class Settings(BaseSettings):
    """Server, registry and runtime configuration."""

    model_config = SettingsConfigDict(
        env_prefix="WARMSERVE_", extra="ignore", populate_by_name=True
    )

    # --- where models come from -------------------------------------------------
    home: Path = Field(
        default=Path(".warmserve"),
        description="Data directory of the embedded default registry (SQLite + artifacts).",
    )
    tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("WARMSERVE_TRACKING_URI", "MLFLOW_TRACKING_URI"),
        description="MLflow tracking/registry URI; default: sqlite file under --home.",
    )
    model: str | None = Field(
        default=None,
        description="Model source: models:/NAME@ALIAS, models:/NAME/VERSION, "
        "models:/NAME/STAGE, runs:/RUN/PATH or a local directory.",
    )

    # --- HTTP -------------------------------------------------------------------
    host: str = Field(default="127.0.0.1", description="Address to bind.")
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port (0 = any free).")
    workers: int = Field(default=1, ge=1, le=64, description="HTTP worker processes.")
    admin_token: SecretStr | None = Field(
        default=None, description="Bearer token required by admin endpoints (/reload)."
    )
    replica_name: str | None = Field(
        default=None,
        description="Name sent as X-Replica on prediction answers (default: the host name).",
    )
    max_body_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024, description="Largest request body accepted."
    )
    max_rows: int = Field(
        default=1_000_000, ge=1, description="Most rows in one prediction request."
    )
    max_columns: int = Field(
        default=10_000, ge=1, description="Most columns (or record fields) in one request."
    )
    max_input_depth: int = Field(
        default=32,
        ge=2,
        le=200,
        description="Deepest nesting of lists and objects accepted in a request body.",
    )
    expose_stack_traces: bool = Field(
        default=False,
        description="Add the model's Python stack trace to prediction errors (stack_trace), "
        "as mlflow models serve does; off because it shows clients the server's internals.",
    )

    # --- model runner -----------------------------------------------------------
    max_batch_size: int = Field(default=64, ge=1, description="Most rows in one predict call.")
    max_batch_delay_ms: float = Field(
        default=1.0, ge=0, description="Longest wait for batch-mates when requests are queued."
    )
    chunk_rows: int = Field(
        default=1024,
        ge=1,
        description="A larger request is predicted in parts of this many rows, so other "
        "requests interleave with it.",
    )
    request_timeout: float = Field(
        default=30.0, gt=0, description="Seconds before a prediction answers 504."
    )
    poll_interval: float = Field(
        default=10.0, ge=0, description="Seconds between registry checks (0 = only on /reload)."
    )
    load_retry_interval: float = Field(
        default=5.0, gt=0, description="Seconds between attempts while no model is available."
    )

    # --- supervision ------------------------------------------------------------
    ping_interval: float = Field(default=1.0, gt=0, description="Seconds between runner pings.")
    ping_timeout: float = Field(
        default=5.0, gt=0, description="A runner silent this long is replaced."
    )
    predict_hang_timeout: float = Field(
        default=60.0, gt=0, description="A predict call running this long is taken as hung."
    )
    shutdown_grace: float = Field(
        default=10.0, ge=0, description="Seconds in-flight requests get to finish on SIGTERM."
    )

    # --- prediction cache -------------------------------------------------------
    cache: str | None = Field(
        default=None,
        description="Prediction cache: unset (off), 'local' (shared by the workers of "
        "this machine) or redis://HOST:PORT/DB (shared by every replica).",
    )
    cache_ttl: float | None = Field(
        default=None, gt=0, description="Seconds a cached prediction lives (unset: no expiry)."
    )
    cache_max_bytes: int = Field(
        default=256 * 1024 * 1024, ge=1024 * 1024, description="Size bound of the local cache."
    )
    cache_secret: SecretStr | None = Field(
        default=None,
        description="Key that signs cache entries (HMAC); entries failing the check are "
        "ignored. Set the same value on every replica sharing a Redis.",
    )

    log_level: LogLevel = Field(default="info", description="Log level.")

    @field_validator("cache")
    @classmethod
    def _check_cache(cls, value: str | None) -> str | None:
        if not value or value.lower() in {"off", "none", "no"}:
            return None
        if value != "local" and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("cache must be 'local' or a redis:// URL")
        return value

    @field_validator("tracking_uri")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    def resolved_tracking_uri(self) -> str:
        """The tracking URI in force: the explicit one, else the embedded SQLite file."""
        if self.tracking_uri:
            return self.tracking_uri
        return f"sqlite:///{self.home.resolve() / 'mlflow.db'}"

    def artifact_root(self) -> Path:
        """Where the embedded default keeps model artifacts."""
        return self.home.resolve() / "artifacts"

    @property
    def max_batch_delay(self) -> float:
        return self.max_batch_delay_ms / 1000.0

    def replica(self) -> str:
        """This replica's name in answers: the setting, else the host name."""
        import socket

        return self.replica_name or socket.gethostname()

    def is_loopback(self) -> bool:
        return self.host in {"127.0.0.1", "localhost", "::1"} or self.host.startswith("127.")

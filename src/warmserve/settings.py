"""The one configuration object.

Every field is settable as ``WARMSERVE_<FIELD>`` in the environment and as
``--<field-with-dashes>`` on the command line (the CLI builds its flags from
this class, so the two can never drift apart). No I/O happens here.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["debug", "info", "warning", "error"]


class Settings(BaseSettings):
    """Server, registry and runtime configuration."""

    # hide_input_in_errors: a refused value (a cache URL with its password, say)
    # is never echoed in the error message.
    model_config = SettingsConfigDict(
        env_prefix="WARMSERVE_", extra="ignore", populate_by_name=True, hide_input_in_errors=True
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
    max_header_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="Largest request head (request line and headers); larger answers 431.",
    )
    header_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds from a request's first byte to the end of its headers (else 408).",
    )
    body_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds from the end of the headers to the end of the body (else 408).",
    )
    keep_alive_timeout: float = Field(
        default=5.0,
        gt=0,
        description="Seconds an idle connection is kept open, before or between requests.",
    )
    replica_name: str = Field(
        default_factory=socket.gethostname,
        min_length=1,
        description="Name of this replica, sent as X-Replica on every prediction answer "
        "(default: the host name; on Kubernetes the pod name).",
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
    compiled_models: bool = Field(
        default=True,
        description="Serve tree ensembles and linear models through a compiled copy, proven "
        "equal to the model at load (false: the library's own predict).",
    )
    model_threads: int = Field(
        default=1,
        ge=0,
        description="Threads each native pool (OpenMP, BLAS) may use in the model process; "
        "0 = the library's default.",
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
        "ignored. Required with a Redis cache: the same value on every replica sharing it.",
    )
    cache_unsigned: bool = Field(
        default=False,
        description="Accept a Redis cache without cache_secret (entries unsigned: whoever "
        "can write to that Redis can forge answers). Logged as a warning.",
    )
    cache_dir: Path | None = Field(
        default=None,
        description="Directory of the 'local' cache store; default: inside the server's "
        "runtime directory, removed when it stops.",
    )

    # --- status page ------------------------------------------------------------
    status_interval: float = Field(
        default=2.0,
        ge=0.5,
        le=60,
        description="Seconds between samples of the status page's live charts (and between "
        "the page's refreshes).",
    )
    trainer_url: str | None = Field(
        default=None,
        description="Base URL of the trainer service (GET /jobs); its recent jobs are shown "
        "on the status page.",
    )

    log_level: LogLevel = Field(default="info", description="Log level.")

    # --- the trainer service (`warmserve trainer` shows these without the prefix) --
    trainer_name: str | None = Field(
        default=None, description="Registered model the trainer owns (trains, registers, gates)."
    )
    trainer_target: str | None = Field(
        default=None, description="Target column of the data the trainer receives."
    )
    trainer_inbox: Path | None = Field(
        default=None,
        description="Folder watched for data files (CSV, Parquet, JSON records); "
        "default: HOME/inbox.",
    )
    trainer_host: str = Field(default="127.0.0.1", description="Address the trainer binds.")
    trainer_port: int = Field(
        default=8100, ge=0, le=65535, description="Trainer HTTP port (0 = any free)."
    )
    trainer_mode: Literal["append", "replace"] = Field(
        default="append",
        description="What new data means: 'append' trains on every batch accepted so far, "
        "'replace' on the newest batch alone.",
    )
    trainer_gate: str | None = Field(
        default=None,
        description="Promotion rule, e.g. 'f1 >= champion - 0.01 and f1 >= 0.7'; default: "
        "the task's metric (f1 or r2) not worse than the champion's by more than 0.01.",
    )
    trainer_eval: Path | None = Field(
        default=None,
        description="Fixed evaluation file both champion and challenger are scored on; "
        "default: a held-out slice of the accepted data.",
    )
    trainer_holdout: float = Field(
        default=0.2,
        gt=0,
        lt=1,
        description="Share of each accepted batch held out for evaluation (never trained on) "
        "when no evaluation file is given.",
    )
    trainer_alias: str = Field(
        default="production", description="Serving alias the gate moves (the champion's)."
    )
    trainer_notify: str | None = Field(
        default=None,
        description="API base URL sent POST /reload (with the admin token) after a promotion.",
    )
    trainer_estimator: str = Field(
        default="auto",
        description="auto, logistic, linear, random_forest or gradient_boosting.",
    )
    trainer_task: Literal["auto", "classification", "regression"] = Field(
        default="auto", description="Task; auto decides from the first training's labels."
    )
    trainer_n_estimators: int | None = Field(
        default=None, ge=1, description="Trees of a tree estimator (unset: scikit-learn's)."
    )
    trainer_max_depth: int | None = Field(
        default=None, ge=1, description="Depth of a tree estimator (unset: its default)."
    )
    trainer_max_body_bytes: int = Field(
        default=256 * 1024 * 1024, ge=1024, description="Largest POST /data body accepted."
    )
    trainer_scan_interval: float = Field(
        default=0.5, gt=0, description="Seconds between two scans of the inbox."
    )
    trainer_settle: float = Field(
        default=1.0,
        ge=0,
        description="Seconds a dropped file must stay unchanged before it is read.",
    )
    trainer_empty_timeout: float = Field(
        default=300.0,
        gt=0,
        description="A 0-byte file is taken as still being written; unchanged this long, "
        "it is rejected as empty.",
    )
    trainer_retry_interval: float = Field(
        default=10.0, gt=0, description="Seconds before a training the registry failed is retried."
    )

    # --- the MLflow server of `warmserve mlflow` and `warmserve stack` ----------------
    mlflow_host: str = Field(default="127.0.0.1", description="Address the MLflow server binds.")
    mlflow_port: int = Field(
        default=5000, ge=0, le=65535, description="MLflow server port (0 = any free)."
    )
    mlflow_backend_store_uri: str | None = Field(
        default=None,
        description="MLflow's database, e.g. postgresql+psycopg2://user:pw@host/db; "
        "default: SQLite file HOME/mlflow/mlflow.db.",
    )
    mlflow_artifacts_destination: str | None = Field(
        default=None,
        description="Where the MLflow server keeps artifacts it proxies; "
        "default: HOME/mlflow/artifacts.",
    )
    mlflow_allowed_hosts: str | None = Field(
        default=None,
        description="Host headers the MLflow server accepts, comma-separated "
        "(e.g. mlflow,mlflow:5000); default: MLflow's own (localhost, private IPs).",
    )
    mlflow_workers: int = Field(default=1, ge=1, description="MLflow server worker processes.")

    @field_validator("cache")
    @classmethod
    def _check_cache(cls, value: str | None) -> str | None:
        if not value or value.lower() in {"off", "none", "no"}:
            return None
        if value != "local" and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("cache must be 'local' or a redis:// URL")
        return value

    @model_validator(mode="after")
    def _redis_cache_is_signed(self) -> Settings:
        if self.uses_redis_cache() and not self.cache_signing_key() and not self.cache_unsigned:
            raise ValueError(
                "a Redis cache needs WARMSERVE_CACHE_SECRET (the same value on every replica), "
                "so that nobody else who can write to that Redis can forge answers; to accept "
                "unsigned entries anyway, set WARMSERVE_CACHE_UNSIGNED=true"
            )
        return self

    def uses_redis_cache(self) -> bool:
        return self.cache is not None and self.cache != "local"

    def cache_signing_key(self) -> bytes | None:
        """The cache secret as bytes, or None when unset or empty."""
        secret = self.cache_secret.get_secret_value() if self.cache_secret else ""
        return secret.encode("utf-8", "surrogateescape") or None

    @field_validator("trainer_url")
    @classmethod
    def _check_trainer_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("trainer_url must be an http:// or https:// URL")
        return value

    @field_validator("tracking_uri")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("trainer_name", "trainer_target", "trainer_gate", "trainer_notify")
    @classmethod
    def _blank_str_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    def resolved_tracking_uri(self) -> str:
        """The tracking URI in force: the explicit one, else the embedded SQLite file."""
        if self.tracking_uri:
            return self.tracking_uri
        return f"sqlite:///{self.home.resolve() / 'mlflow.db'}"

    def artifact_root(self) -> Path:
        """Where the embedded default keeps model artifacts."""
        return self.home.resolve() / "artifacts"

    def trainer_inbox_dir(self) -> Path:
        return (self.trainer_inbox or self.home / "inbox").resolve()

    def trainer_data_dir(self) -> Path:
        """Accepted batches and the trainer's journal (jobs, what was trained on)."""
        return self.home.resolve() / "trainer"

    @property
    def max_batch_delay(self) -> float:
        return self.max_batch_delay_ms / 1000.0

    def is_loopback(self) -> bool:
        return self.host in {"127.0.0.1", "localhost", "::1"} or self.host.startswith("127.")

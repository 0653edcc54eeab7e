"""Settings, read once: environment (``SHIPYARD_*``) > ``shipyard.toml`` > defaults.

Every other module receives a :class:`Settings` object; none reads the environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_PRELOAD = (
    "numpy",
    "pandas",
    "pyarrow.csv",
    "pyarrow.parquet",
    "xgboost",
    "lightgbm",
    "shipyard.data.tables",
    "shipyard.training.runtime",
    "shipyard.training.algorithms.xgboost",
    "shipyard.training.algorithms.lightgbm",
    "shipyard.tuning.pruning",  # Optuna, for trials that stop early
)


def _config_file() -> Path:
    return Path(os.environ.get("SHIPYARD_CONFIG_FILE", "shipyard.toml"))


class Settings(BaseSettings):
    """Every setting of a Shipyard server; each one is documented in the README."""

    model_config = SettingsConfigDict(env_prefix="SHIPYARD_", extra="forbid")

    home: Path = Field(
        default=Path("~/.shipyard"),
        description="Directory for the embedded database, artifacts and keys.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the metadata DB; SQLite under `home` when unset.",
    )
    artifact_uri: str | None = Field(
        default=None,
        description="Root of the artifact store: a directory or `s3://bucket/prefix`.",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="Endpoint of an S3-compatible store (MinIO, moto...)."
    )
    host: str = Field(default="127.0.0.1", description="Address the server binds.")
    port: int = Field(default=8080, ge=0, le=65535, description="Port the server binds.")
    executor: Literal["local"] = Field(
        default="local", description="Where jobs run: `local` processes."
    )
    data_roots: list[Path] = Field(
        default_factory=list,
        description="Local directories training channels may read from, besides `home/data`.",
    )
    worker_slots: int = Field(
        default=2, ge=1, description="How many jobs one worker runs at the same time."
    )
    worker_poll_seconds: float = Field(
        default=0.2, gt=0, description="How often an idle worker looks for pending jobs."
    )
    heartbeat_seconds: float = Field(
        default=2.0, gt=0, description="How often a worker heartbeats its running jobs."
    )
    heartbeat_timeout_seconds: float = Field(
        default=60.0, gt=0, description="A job whose heartbeat is older than this is dead."
    )
    job_preload_modules: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PRELOAD),
        description="Modules a warm job process has imported already; empty turns warm starts off.",
    )
    run_worker: bool = Field(default=True, description="Run a job worker inside `shipyard up`.")
    run_scheduler: bool = Field(default=True, description="Run the scheduler in `shipyard up`.")
    load_quickstart: bool = Field(
        default=True, description="Load the quick-start example on the first start."
    )
    webhook_allow_private_addresses: bool = Field(
        default=False,
        description="Let webhooks (a debugger rule's Notify action, a topic's webhook and "
        "Slack subscriptions) post to loopback and private addresses; link-local and cloud "
        "metadata addresses stay refused.",
    )
    smtp_host: str | None = Field(
        default=None,
        description="SMTP server that topics' email subscriptions are sent through; "
        "unset, email deliveries fail.",
    )
    smtp_port: int = Field(default=25, ge=1, le=65535, description="Port of the SMTP server.")
    smtp_username: str | None = Field(
        default=None, description="User name to log in to the SMTP server with, if any."
    )
    smtp_password: SecretStr | None = Field(
        default=None, description="Password of `smtp_username` on the SMTP server."
    )
    smtp_from: str = Field(
        default="shipyard@localhost", description="The From address of notification emails."
    )
    smtp_starttls: bool = Field(
        default=False, description="Upgrade the SMTP connection with STARTTLS before sending."
    )
    smtp_timeout_seconds: float = Field(
        default=10.0, gt=0, description="How long one SMTP conversation may take."
    )
    max_payload_bytes: int = Field(
        default=6 * 1024 * 1024,
        ge=1024,
        description="The largest invocation body an endpoint takes; a larger one is a 413 "
        "that never reaches the model.",
    )

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_config_file())
        return (init_settings, env_settings, toml)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'shipyard.db'}"

    @property
    def resolved_artifact_uri(self) -> str:
        return self.artifact_uri or str(self.home / "artifacts")

    @property
    def allowed_data_roots(self) -> list[Path]:
        return [self.home / "data", *(root.expanduser().resolve() for root in self.data_roots)]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

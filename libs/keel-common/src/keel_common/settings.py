"""Typed settings shared by every service.

Common fields read ``KEEL_<FIELD>`` (one value for the whole platform, e.g. ``KEEL_REDIS_URL``);
a service's own fields read ``KEEL_<SERVICE>_<FIELD>`` through the subclass's ``env_prefix``.
Settings are built in ``main()``; nothing here does I/O at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PLACEHOLDERS = ("changeme", "change-me", "replace-me", "<password>", "placeholder")


def reject_placeholder(value: str | None, name: str) -> str | None:
    """Fail fast when a secret still holds a template placeholder."""
    if value and any(p in value.lower() for p in _PLACEHOLDERS):
        raise ValueError(f"{name} still contains a placeholder secret; set a real value")
    return value


def _common(name: str) -> AliasChoices:
    return AliasChoices(f"KEEL_{name.upper()}")


class KeelSettings(BaseSettings):
    """Fields every Keel process understands."""

    model_config = SettingsConfigDict(env_prefix="KEEL_", extra="ignore", populate_by_name=True)

    data_dir: Path = Field(Path.home() / ".keel", validation_alias=_common("data_dir"))
    redis_url: str | None = Field(
        None,
        validation_alias=_common("redis_url"),
        description="redis:// URL; empty starts an embedded Valkey server (local mode only)",
    )
    artifact_root: str | None = Field(
        None,
        validation_alias=_common("artifact_root"),
        description="local path or s3:// URI; defaults to <data_dir>/artifacts",
    )
    artifact_endpoint_url: str | None = Field(None, validation_alias=_common("artifact_endpoint_url"))
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias=_common("log_level")
    )
    log_json: bool = Field(True, validation_alias=_common("log_json"))

    @field_validator("redis_url")
    @classmethod
    def _no_placeholder_redis(cls, v: str | None) -> str | None:
        return reject_placeholder(v, "KEEL_REDIS_URL")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    def resolved_artifact_root(self) -> str:
        return self.artifact_root or str(self.data_dir / "artifacts")


class ServiceSettings(KeelSettings):
    """A network service: a gRPC port plus the HTTP side port for /metrics, /livez, /readyz."""

    host: str = "127.0.0.1"
    grpc_port: int = Field(50051, ge=0, le=65535)
    http_port: int = Field(8081, ge=0, le=65535)
    grpc_workers: int = Field(16, ge=1, le=512)
    shutdown_grace_s: float = Field(10.0, ge=0)
    health_interval_s: float = Field(2.0, gt=0)

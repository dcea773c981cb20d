"""Registry settings: ``KEEL_REGISTRY_*`` plus the platform-wide ``KEEL_*`` fields."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from keel_common.contract import ALIAS_CHANNEL, REGISTRY_EVENTS_STREAM
from keel_common.settings import ServiceSettings, reject_placeholder


class RegistrySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="KEEL_REGISTRY_", extra="ignore", populate_by_name=True)

    # grpc_port (50051) and http_port (8081) come from ServiceSettings.
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; defaults to SQLite at <data_dir>/registry.db"
    )
    migrate_on_start: bool = True
    alias_channel: str = ALIAS_CHANNEL
    events_stream: str = REGISTRY_EVENTS_STREAM
    events_maxlen: int = Field(10_000, ge=100)

    @field_validator("database_url")
    @classmethod
    def _no_placeholder(cls, v: str | None) -> str | None:
        return reject_placeholder(v, "KEEL_REGISTRY_DATABASE_URL")

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'registry.db'}"

"""Feedback settings: ``KEEL_FEEDBACK_*`` plus the platform-wide ``KEEL_*`` fields."""

from __future__ import annotations

import os
import socket

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from keel_common.contract import INTERACTIONS_STREAM
from keel_common.settings import ServiceSettings, reject_placeholder


def _consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class FeedbackSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="KEEL_FEEDBACK_", extra="ignore", populate_by_name=True, protected_namespaces=()
    )

    grpc_port: int = Field(50055, ge=0, le=65535)
    http_port: int = Field(8085, ge=0, le=65535)
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; defaults to SQLite at <data_dir>/feedback.db"
    )
    migrate_on_start: bool = True
    ingestion_target: str = Field(
        "127.0.0.1:50054", description="ingestion gRPC: exports become its dataset versions"
    )

    # The consumer of the gateway's interaction log.
    consume: bool = Field(True, description="`serve` also runs a stream consumer (off: API only)")
    interactions_stream: str = INTERACTIONS_STREAM
    consumer_group: str = "feedback"
    consumer_name: str = Field(
        default_factory=_consumer_name, description="unique per replica; default <hostname>-<pid>"
    )
    batch: int = Field(500, ge=1, le=10_000, description="entries read and stored per transaction")
    block_ms: int = Field(1000, ge=1, description="how long one read waits for new entries")
    claim_idle_s: float = Field(
        30.0, gt=0, description="pending entries of a consumer silent this long are claimed by another"
    )
    claim_interval_s: float = Field(5.0, gt=0, description="how often a consumer looks for such entries")

    quality_refresh_s: float = Field(30.0, gt=0, description="how often the quality gauges are recomputed")

    # Limits on what a client may send (characters).
    max_correction_chars: int = Field(32_768, ge=1)
    max_comment_chars: int = Field(4096, ge=1)
    max_text_chars: int = Field(4096, ge=1, description="a free-text score")
    max_category_chars: int = Field(64, ge=1)

    @field_validator("database_url")
    @classmethod
    def _no_placeholder(cls, v: str | None) -> str | None:
        return reject_placeholder(v, "KEEL_FEEDBACK_DATABASE_URL")

    @model_validator(mode="after")
    def _check(self) -> FeedbackSettings:
        if self.claim_idle_s * 1000 <= self.block_ms:
            raise ValueError("KEEL_FEEDBACK_CLAIM_IDLE_S must exceed one read's KEEL_FEEDBACK_BLOCK_MS")
        return self

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'feedback.db'}"

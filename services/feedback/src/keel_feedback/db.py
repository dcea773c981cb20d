"""Feedback's schema (SQLAlchemy 2 ORM); the engine comes from ``keel_common.sql``. Alembic
migrations mirror this module.

Feedback rows do not reference interactions by foreign key: feedback may arrive before its
interaction has been consumed from the stream. The two join on (request_id, tenant), so feedback
sent under another tenant than the interaction's never joins it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from keel_common.sql import metadata, utcnow


class Base(DeclarativeBase):
    metadata = metadata()


class Interaction(Base):
    """One request through the gateway, stored once by its id (the consumer's exactly-once key)."""

    __tablename__ = "interactions"
    __table_args__ = (
        Index("ix_interactions_tenant_created", "tenant", "created_at", "request_id"),
        Index("ix_interactions_model_version", "model", "model_version"),
    )

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128))
    key_id: Mapped[str] = mapped_column(String(64), default="")
    endpoint: Mapped[str] = mapped_column(String(32), default="")
    requested_model: Mapped[str] = mapped_column(String(256), default="")
    model: Mapped[str] = mapped_column(String(256), default="")
    model_version: Mapped[int] = mapped_column(BigInteger, default=0)
    base_model: Mapped[str] = mapped_column(String(128), default="")
    adapter_ref: Mapped[str] = mapped_column(String(256), default="")
    stored: Mapped[bool] = mapped_column(Boolean, default=True)
    status_code: Mapped[int] = mapped_column(Integer, default=0)
    # A guardrail blocked the request or the answer / flagged or redacted without blocking.
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    # sha256 of the normalised prompt: what exports deduplicate and split by.
    prompt_key: Mapped[str] = mapped_column(String(64), default="", index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The keel.gateway.v1.Interaction as the gateway wrote it (after redaction).
    record: Mapped[bytes] = mapped_column(LargeBinary)


class Feedback(Base):
    __tablename__ = "feedback"
    # A client's idempotency key names one feedback per tenant (NULL when none was sent).
    __table_args__ = (
        UniqueConstraint("tenant", "client_id", name="uq_feedback_tenant_client_id"),
        Index("ix_feedback_request", "request_id", "tenant"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128))
    request_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    source: Mapped[int] = mapped_column(Integer, default=0)
    rater: Mapped[str] = mapped_column(String(256), default="")
    # "thumb", "rating", "category", "text" or "" (a correction or comment only).
    kind: Mapped[str] = mapped_column(String(16), default="")
    thumb: Mapped[int] = mapped_column(Integer, default=0)
    rating_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    rating_min: Mapped[float | None] = mapped_column(Float, nullable=True)
    rating_max: Mapped[float | None] = mapped_column(Float, nullable=True)
    normalized: Mapped[float | None] = mapped_column(Float, nullable=True)
    category: Mapped[str] = mapped_column(String(64), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    correction: Mapped[str] = mapped_column(Text, default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    # What was submitted, hashed: a retry under the same client_id must match it.
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

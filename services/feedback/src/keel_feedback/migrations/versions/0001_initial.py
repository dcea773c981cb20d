"""Initial feedback schema: interactions and feedback.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "interactions",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("endpoint", sa.String(length=32), nullable=False),
        sa.Column("requested_model", sa.String(length=256), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("model_version", sa.BigInteger(), nullable=False),
        sa.Column("base_model", sa.String(length=128), nullable=False),
        sa.Column("adapter_ref", sa.String(length=256), nullable=False),
        sa.Column("stored", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("prompt_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("record", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_interactions")),
    )
    op.create_index("ix_interactions_tenant_created", "interactions", ["tenant", "created_at", "request_id"])
    op.create_index("ix_interactions_model_version", "interactions", ["model", "model_version"])
    op.create_index(op.f("ix_interactions_prompt_key"), "interactions", ["prompt_key"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=True),
        sa.Column("source", sa.Integer(), nullable=False),
        sa.Column("rater", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("thumb", sa.Integer(), nullable=False),
        sa.Column("rating_value", sa.Float(), nullable=True),
        sa.Column("rating_min", sa.Float(), nullable=True),
        sa.Column("rating_max", sa.Float(), nullable=True),
        sa.Column("normalized", sa.Float(), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("correction", sa.Text(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
        sa.UniqueConstraint("tenant", "client_id", name="uq_feedback_tenant_client_id"),
    )
    op.create_index("ix_feedback_request", "feedback", ["request_id", "tenant"])


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("interactions")

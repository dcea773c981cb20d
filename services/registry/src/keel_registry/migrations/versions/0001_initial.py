"""Initial registry schema: models, versions, tags, aliases, alias events.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("creator", sa.String(256), nullable=False),
        sa.Column("latest_version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registered_models"),
        sa.UniqueConstraint("name", name="uq_registered_models_name"),
    )
    op.create_index("ix_registered_models_tenant", "registered_models", ["tenant"])

    op.create_table(
        "model_versions",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("base_model", sa.String(512), nullable=False),
        sa.Column("artifact_uri", sa.Text(), nullable=False),
        sa.Column("artifact_sha256", sa.String(64), nullable=False),
        sa.Column("artifact_size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("training_job_id", sa.String(128), nullable=False),
        sa.Column("dataset_id", sa.String(128), nullable=False),
        sa.Column("dataset_version", sa.String(64), nullable=False),
        sa.Column("source", sa.String(256), nullable=False),
        sa.Column("parent_version", sa.String(256), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=False),
        sa.Column("creator", sa.String(256), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
            ondelete="CASCADE",
            name="fk_model_versions_model_id_registered_models",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
        sa.UniqueConstraint("model_id", "version", name="uq_model_versions_model_id_version"),
    )
    for column in ("model_id", "base_model", "training_job_id", "dataset_id", "status"):
        op.create_index(f"ix_model_versions_{column}", "model_versions", [column])

    op.create_table(
        "version_tags",
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("tag", sa.String(128), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            ondelete="CASCADE",
            name="fk_version_tags_version_id_model_versions",
        ),
        sa.PrimaryKeyConstraint("version_id", "tag", name="pk_version_tags"),
    )
    op.create_index("ix_version_tags_tag", "version_tags", ["tag"])

    op.create_table(
        "model_aliases",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.BigInteger(), nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(256), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
            ondelete="CASCADE",
            name="fk_model_aliases_model_id_registered_models",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_model_aliases"),
        sa.UniqueConstraint("model_id", "alias", name="uq_model_aliases_model_id_alias"),
    )

    op.create_table(
        "alias_events",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.BigInteger(), nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_version", sa.BigInteger(), nullable=False),
        sa.Column("to_version", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
            ondelete="CASCADE",
            name="fk_alias_events_model_id_registered_models",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_alias_events"),
    )
    op.create_index("ix_alias_events_model_id", "alias_events", ["model_id"])
    op.create_index("ix_alias_events_alias", "alias_events", ["alias"])


def downgrade() -> None:
    for table in ("alias_events", "model_aliases", "version_tags", "model_versions", "registered_models"):
        op.drop_table(table)

"""The registry's Alembic migrations (on start, or ``keel-registry migrate``)."""

from __future__ import annotations

from keel_common.sql import Migrations

# The registry's revisions predate per-service version tables: it keeps Alembic's default.
MIGRATIONS = Migrations(
    "keel_registry:migrations",
    version_table="alembic_version",
    lock_id=0x6B65656C,
    command_hint="keel-registry migrate",
)
alembic_config = MIGRATIONS.config
upgrade = MIGRATIONS.upgrade
head_revision = MIGRATIONS.head_revision
current_revision = MIGRATIONS.current_revision
schema_is_usable = MIGRATIONS.schema_is_usable

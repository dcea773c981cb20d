"""Ingestion's Alembic migrations build exactly the schema the ORM declares, on SQLite and
PostgreSQL, in a version table of their own (services may share one database)."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from keel_common.sql import create_db_engine
from keel_ingestion.db import Base
from keel_ingestion.migrate import MIGRATIONS


def test_upgrade_matches_models_and_downgrades(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        assert MIGRATIONS.current_revision(engine) is None
        assert not MIGRATIONS.schema_is_usable(engine)[0]
        MIGRATIONS.upgrade(engine)
        assert MIGRATIONS.current_revision(engine) == MIGRATIONS.head_revision(engine)
        assert MIGRATIONS.schema_is_usable(engine)[0]
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"compare_type": True, "version_table": "alembic_version_ingestion"}
            )
            diff = compare_metadata(ctx, Base.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
        assert "alembic_version_ingestion" in inspect(engine).get_table_names()
        MIGRATIONS.upgrade(engine)  # idempotent
        command.downgrade(MIGRATIONS.config(engine), "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version_ingestion"}
    finally:
        engine.dispose()

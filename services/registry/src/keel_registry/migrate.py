"""Run the Alembic migrations programmatically (on start, or ``keel-registry migrate``)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "keel_registry:migrations")
    cfg.attributes["engine"] = engine
    return cfg


# Any constant works; it only has to be the same for every replica of the registry.
_PG_MIGRATION_LOCK = 0x6B65656C  # "keel"


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema. On PostgreSQL, replicas starting together take turns through a
    session advisory lock instead of racing to create the same tables."""
    if engine.dialect.name != "postgresql":
        command.upgrade(alembic_config(engine), revision)
        return
    with engine.connect() as lock_conn:
        lock_conn.exec_driver_sql(f"SELECT pg_advisory_lock({_PG_MIGRATION_LOCK})")
        try:
            command.upgrade(alembic_config(engine), revision)
        finally:
            lock_conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_PG_MIGRATION_LOCK})")
            lock_conn.commit()


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The schema's revision; a plain query, cheap enough for every health check."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

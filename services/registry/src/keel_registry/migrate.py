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


def schema_is_usable(engine: Engine) -> tuple[bool, str]:
    """Whether this code can run on the database's schema: at our head, or at a newer revision
    (a newer replica migrated first during a rolling upgrade; migrations are additive), but not
    behind it or empty."""
    current = current_revision(engine)
    head = head_revision(engine)
    if current == head:
        return True, f"schema at {current}"
    if current is None:
        return False, "schema not created; run `keel-registry migrate`"
    script = ScriptDirectory.from_config(alembic_config(engine))
    try:
        script.get_revision(current)
    except Exception:  # unknown here: written by newer code
        return True, f"schema at {current}, newer than this code's {head}"
    return False, f"schema at {current}, code expects {head}; run `keel-registry migrate`"
